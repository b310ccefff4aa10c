import type { ClarusIdentity } from "./clarus-headers";
import type { ClarusMessage, EventSource, JsonObject } from "./types";

export interface EventMessageParts {
  msgid: string;
  event: string;
  source: EventSource;
  payload: JsonObject;
  identity: ClarusIdentity;
  dedupeKey: string;
  duplicate: boolean;
}

/** The one message shape of every source node (DESIGN.md "Message shape"). */
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
    },
  };
}
