import type { Node } from "node-red";

import type { ConnectionServices } from "../connection/services";
import { dedupeKeyFor } from "../events/dedupe-keys";
import { type ClarusMessage, eventMessage } from "../events/message";
import type { JsonObject } from "../json";
import { errorMessage } from "../node-red/errors";
import { UnstorableEventError } from "../store/connection-store";

export interface PolledEvent {
  event: string;
  record: JsonObject;
}

/**
 * Sends a page of polled records through the connection's delivery: all of them claimed (`on-receipt`) or
 * admitted to the inbox in one group commit (`on-confirm`) first, then the fresh ones sent. When the store
 * cannot take some of them, those that it took are still sent (their keys are claimed: a later run would
 * take them for duplicates), then it rejects with the first failure; the run fails and its watermark stays,
 * so the next run reads the rest again. A record that can never be stored (it cannot be serialised) is an
 * error of its own, reported on the node, and the rest of the page goes on: reading it again would only
 * fail again. `cancelled`: the node is closing (see Delivery.accept).
 */
export async function emitPolledEvents(
  node: Node,
  connection: ConnectionServices,
  events: PolledEvent[],
  generateId: () => string,
  cancelled?: () => boolean,
): Promise<{ fresh: number; duplicates: number }> {
  const messages: ClarusMessage[] = [];
  for (const { event, record } of events) {
    const msgid = generateId();
    let content: string;
    try {
      content = JSON.stringify(record);
    } catch (error) {
      reportUnstorable(node, event, record, `the event cannot be stored: ${errorMessage(error)}`);
      continue;
    }
    messages.push(
      eventMessage({
        msgid,
        event,
        source: "poll",
        payload: record,
        identity: { subdomain: connection.subdomain, apiDomain: connection.apiUrl },
        dedupeKey: dedupeKeyFor(event, record, content, { deliveryId: msgid }),
        duplicate: false,
        connection: connection.id,
      }),
    );
  }
  const outcomes = await connection.delivery.accept(
    messages.map((message) => ({ key: message.clarus.dedupeKey, sourceNodeId: node.id, message })),
    cancelled,
  );
  let sent = 0;
  let duplicates = 0;
  messages.forEach((message, index) => {
    const outcome = outcomes[index];
    if (outcome instanceof UnstorableEventError) {
      reportUnstorable(node, message.topic, message.payload, outcome.message);
      return;
    }
    if (outcome instanceof Error) return;
    // Fresh from the poll (sent now, or held and sent by the inbox): no webhook had claimed it.
    if (outcome === "duplicate") connection.counters.duplicate(message.topic, "poll");
    else {
      connection.counters.entered(message.topic, "poll");
      connection.counters.pollOnly(message.topic);
    }
    if (outcome === "duplicate") duplicates++;
    if (outcome !== "fresh") return;
    sent++;
    node.send(message);
  });
  const failure = outcomes.find(
    (outcome): outcome is Error => outcome instanceof Error && !(outcome instanceof UnstorableEventError),
  );
  if (failure) throw failure;
  return { fresh: sent, duplicates };
}

/**
 * The record's error, for a Catch node: its message names the record by id and does not carry it (a
 * record that cannot be serialised cannot be cloned onto a message either).
 */
function reportUnstorable(node: Node, event: string, record: JsonObject, reason: string): void {
  const id = typeof record.id === "string" || typeof record.id === "number" ? record.id : undefined;
  const name = `${event} record${id === undefined ? "" : ` ${id}`}`;
  node.error(new Error(`${name} cannot be stored, so it is skipped: ${reason}`), {
    topic: event,
    payload: id === undefined ? {} : { id },
  });
}
