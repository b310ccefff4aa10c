import type { NodeDef } from "node-red";

export interface AutomationMapping {
  id: string;
  event: string;
}

export interface ConnectionCredentials {
  clientId?: string;
  clientSecret?: string;
  accessToken?: string;
  webhookToken?: string;
}

export interface ConnectionDef extends NodeDef {
  subdomain: string;
  domain: string;
  apiUrl: string;
  automations?: AutomationMapping[];
  dedupeHours?: number | string;
  dedupeCapacity?: number | string;
  delivery?: string;
  redeliverSeconds?: number | string;
  maxAttempts?: number | string;
}
