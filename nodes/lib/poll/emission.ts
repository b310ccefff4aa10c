import type { Node } from "node-red";

import type { ConnectionServices } from "../connection/services";
import { dedupeKeyFor } from "../events/dedupe-keys";
import { eventMessage } from "../events/message";
import type { JsonObject } from "../json";

export interface PolledEvent {
  event: string;
  record: JsonObject;
}

/**
 * Sends a page of polled records through the connection's delivery: all of them claimed (`on-receipt`) or
 * admitted to the inbox in one group commit (`on-confirm`) first, then the fresh ones sent. Rejects, having
 * sent nothing, when the store cannot take them; the run then fails and its watermark stays.
 */
export async function emitPolledEvents(
  node: Node,
  connection: ConnectionServices,
  events: PolledEvent[],
  generateId: () => string,
): Promise<{ fresh: number; duplicates: number }> {
  const messages = events.map(({ event, record }) => {
    const msgid = generateId();
    return eventMessage({
      msgid,
      event,
      source: "poll",
      payload: record,
      identity: { subdomain: connection.subdomain, apiDomain: connection.apiUrl },
      dedupeKey: dedupeKeyFor(event, record, JSON.stringify(record), { deliveryId: msgid }),
      duplicate: false,
      connection: connection.id,
    });
  });
  const fresh = await connection.delivery.accept(
    messages.map((message) => ({ key: message.clarus.dedupeKey, sourceNodeId: node.id, message })),
  );
  let sent = 0;
  messages.forEach((message, index) => {
    if (!fresh[index]) return;
    sent++;
    node.send(message);
  });
  return { fresh: sent, duplicates: messages.length - sent };
}
