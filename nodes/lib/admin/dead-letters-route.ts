import type { Request, Response } from "express";

import type { Delivery } from "../delivery/delivery";
import { errorMessage } from "../node-red/errors";
import type { ConnectionStore, InboxEntry } from "../store/connection-store";

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

/** One dead letter as the admin endpoint lists it: what it was, where it came from, why it died. */
export interface DeadLetterView {
  key: string;
  sourceNodeId: string;
  attempts: number;
  admittedAt: string;
  lastError?: string;
  message: InboxEntry["message"];
}

/** What the endpoint reads of a deployed connection (its ConnectionServices). */
export interface DeadLetterSource {
  id: string;
  store: Pick<ConnectionStore, "inboxCounts" | "deadLetters">;
  delivery: Pick<Delivery, "settings">;
}

/**
 * `GET <admin root>/clarus-wms/connections/:id/dead-letters[?limit=n]`: the connection's inbox counts and
 * its dead letters, oldest first (behind Node-RED's admin auth). 404 for a node that is not a deployed
 * clarus-connection.
 */
export function deadLettersHandler(find: (id: string) => DeadLetterSource | undefined) {
  return (req: Request, res: Response): void => {
    const services = find(String(req.params.id));
    if (!services) {
      res.status(404).json({ error: `no deployed clarus-connection ${req.params.id}` });
      return;
    }
    const requested = Number(req.query.limit ?? DEFAULT_LIMIT);
    const limit =
      Number.isInteger(requested) && requested > 0 ? Math.min(requested, MAX_LIMIT) : DEFAULT_LIMIT;
    Promise.all([services.store.inboxCounts(), services.store.deadLetters(limit)]).then(
      ([counts, dead]) => {
        res.json({
          connection: services.id,
          delivery: services.delivery.settings.mode,
          pending: counts.pending,
          dead: counts.dead,
          deadLetters: dead.map((entry) => view(entry, services.delivery.settings.maxAttempts)),
        });
      },
      (error: unknown) => {
        res.status(503).json({ error: `the connection's store cannot answer: ${errorMessage(error)}` });
      },
    );
  };
}

/** An entry dies when it comes due once more after its last attempt, which counted one more than was sent. */
function view(entry: InboxEntry, maxAttempts: number): DeadLetterView {
  return {
    key: entry.key,
    sourceNodeId: entry.sourceNodeId,
    attempts: Math.min(entry.attempt, maxAttempts),
    admittedAt: new Date(entry.admittedAt).toISOString(),
    lastError: entry.lastError,
    message: entry.message,
  };
}
