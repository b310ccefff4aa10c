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
 * admitted to the inbox in one group commit (`on-confirm`) first, then the fresh ones sent. When the store
 * cannot take some of them, those that it took are still sent (their keys are claimed: a later run would
 * take them for duplicates), then it rejects with the first failure; the run fails and its watermark stays,
 * so the next run reads the rest again. `cancelled`: the node is closing (see Delivery.accept).
 */
export async function emitPolledEvents(
  node: Node,
  connection: ConnectionServices,
  events: PolledEvent[],
  generateId: () => string,
  cancelled?: () => boolean,
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
  const outcomes = await connection.delivery.accept(
    messages.map((message) => ({ key: message.clarus.dedupeKey, sourceNodeId: node.id, message })),
    cancelled,
  );
  let sent = 0;
  let duplicates = 0;
  messages.forEach((message, index) => {
    if (outcomes[index] === "duplicate") duplicates++;
    if (outcomes[index] !== "fresh") return;
    sent++;
    node.send(message);
  });
  const failure = outcomes.find((outcome): outcome is Error => outcome instanceof Error);
  if (failure) throw failure;
  return { fresh: sent, duplicates };
}
