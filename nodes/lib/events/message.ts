import type { NodeMessage } from "node-red";

import type { JsonObject } from "../json";

/** The five `X-ClarusWMS-*` headers Clarus documents on a webhook (Integration-ID only when one applies). */
export interface ClarusIdentity {
  domain?: string;
  apiDomain?: string;
  subdomain?: string;
  automationId?: string;
  integrationId?: string;
}

export type EventSource = "webhook" | "poll";

/** `msg.clarus`: the same fields whichever path brought the event, so a flow need not care which did. */
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
  /** The clarus-connection node's id: where clarus-confirm finds the event's inbox. */
  connection: string;
  /** `on-confirm` only: the send this is (1, 2, …) and whether it is a redelivery. */
  attempt?: number;
  redelivered?: boolean;
  /** `on-confirm` with dedupe off only: the inbox key of this one delivery, when it is not `dedupeKey`. */
  inboxKey?: string;
  /** Sent again by an operator (a dead letter replayed, a recent delivery sent again), past dedupe. */
  replayed?: boolean;
  [field: string]: unknown;
}

export interface ClarusMessage extends NodeMessage {
  topic: string;
  payload: Record<string, unknown>;
  clarus: ClarusMeta;
}

export interface EventMessageParts {
  msgid: string;
  event: string;
  source: EventSource;
  payload: JsonObject;
  identity: ClarusIdentity;
  dedupeKey: string;
  duplicate: boolean;
  /** The clarus-connection node's id. */
  connection: string;
}

/** The one message shape of every source node, webhook-in and poll alike: `topic`, `payload`, `clarus`. */
export function eventMessage(parts: EventMessageParts): ClarusMessage {
  const { identity } = parts;
  return {
    _msgid: parts.msgid,
    topic: parts.event,
    payload: parts.payload,
    clarus: {
      event: parts.event,
      source: parts.source,
      subdomain: identity.subdomain,
      domain: identity.domain,
      apiDomain: identity.apiDomain,
      automationId: identity.automationId,
      integrationId: identity.integrationId,
      receivedAt: new Date().toISOString(),
      dedupeKey: parts.dedupeKey,
      duplicate: parts.duplicate,
      connection: parts.connection,
    },
  };
}
