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
  /** `store: redis`: redis://[:password@]host:port[/db], or rediss:// for TLS. */
  redisUrl?: string;
}

export interface ConnectionDef extends NodeDef {
  subdomain: string;
  domain: string;
  apiUrl: string;
  /**
   * The one host `X-ClarusWMS-API-Domain` must name; empty (the default, and a flow without the property):
   * any documented Clarus API host or the API URL's.
   */
  apiDomain?: string;
  /** Where Clarus reaches this Node-RED, for webhook registration; empty: no registration (0.1). */
  publicUrl?: string;
  automations?: AutomationMapping[];
  /**
   * How often webhook-in nodes read the automations they registered back and repair what was changed in
   * Clarus (minutes, decimals allowed; 0: never); default 15. A 0.1 flow registers nothing, so nothing runs.
   */
  driftMinutes?: number | string;
  dedupeHours?: number | string;
  dedupeCapacity?: number | string;
  delivery?: string;
  redeliverSeconds?: number | string;
  maxAttempts?: number | string;
  /** Where shared state lives: `file` (default, the user directory) or `redis` (shared by several instances). */
  store?: string;
  /** Key prefix in Redis; default `clarus:<subdomain>:`. */
  redisPrefix?: string;
}
