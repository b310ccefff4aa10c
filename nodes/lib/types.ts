import type { Node, NodeDef, NodeMessage } from "node-red";

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
}

export type EventSource = "webhook" | "poll";

/** `msg.clarus`: the same fields whichever path brought the event (DESIGN.md "Message shape"). */
export interface ClarusMeta {
  event: string;
  source: EventSource;
  subdomain?: string;
  domain?: string;
  apiDomain?: string;
  automationId?: string;
  integrationId?: string;
  receivedAt: string;
  dedupeKey: string;
  duplicate: boolean;
  [field: string]: unknown;
}

export interface ClarusMessage extends NodeMessage {
  topic: string;
  payload: Record<string, unknown>;
  clarus: ClarusMeta;
}

export type JsonObject = Record<string, unknown>;

export type NodeWithDef<TDef extends NodeDef, TCreds extends object = object> = Node<TCreds> & {
  readonly def?: TDef;
};
