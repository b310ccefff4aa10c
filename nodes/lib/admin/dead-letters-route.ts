import type { RequestHandler, Response } from "express";

import {
  type DeadLetterReplay,
  type DeadLetterSelection,
  discardDeadLetters,
  eventOf,
  ReplayBusyError,
  type ReplayRequest,
  ReplayRequestError,
} from "../delivery/dead-letter-replay";
import type { Delivery } from "../delivery/delivery";
import { isPlainObject } from "../json";
import { errorMessage } from "../node-red/errors";
import { type ConnectionStore, type InboxEntry, StoreUnavailableError } from "../store/connection-store";
import { withConnection } from "./deployed-connection";

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
/** The most keys one request may name. */
const MAX_KEYS = 10_000;

/** One dead letter as the admin endpoint lists it: what it was, where it came from, why it died. */
export interface DeadLetterView {
  key: string;
  sourceNodeId: string;
  event: string;
  attempts: number;
  admittedAt: string;
  lastError?: string;
  message: InboxEntry["message"];
}

/** What the endpoints read of a deployed connection (its ConnectionServices). */
export interface DeadLetterSource {
  id: string;
  store: Pick<ConnectionStore, "inboxCounts" | "deadLetters">;
  delivery: Pick<Delivery, "settings" | "store">;
  replays: Pick<DeadLetterReplay, "replay" | "cancel">;
}

type Find = (id: string) => DeadLetterSource | undefined;

/**
 * `GET <admin root>/clarus-wms/connections/:id/dead-letters[?limit=n]`: the connection's inbox counts and
 * its dead letters, oldest first (behind Node-RED's admin auth). 404 for a node that is not a deployed
 * clarus-connection.
 */
export function deadLettersHandler(find: Find): RequestHandler {
  return withConnection(find, (services, req, res) => {
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
      (error: unknown) => storeFailed(res, error),
    );
  });
}

/**
 * `POST …/dead-letters/replay` `{keys?, event?, via?}`: replays the selection (none: every dead letter) at the
 * configured rate and answers when it is done or cancelled: `{replayed, skipped, cancelled}`. 409 while a
 * replay of the connection runs, 400 for a body it cannot act on.
 */
export function replayHandler(find: Find): RequestHandler {
  return withConnection(find, (services, req, res) => {
    let request: ReplayRequest;
    try {
      request = readSelection(req.body, true);
    } catch (error) {
      res.status(400).json({ error: errorMessage(error) });
      return;
    }
    services.replays.replay(request).then(
      (outcome) => res.json(outcome),
      (error: unknown) => {
        if (error instanceof ReplayBusyError) res.status(409).json({ error: error.message });
        else if (error instanceof ReplayRequestError) res.status(400).json({ error: error.message });
        else storeFailed(res, error);
      },
    );
  });
}

/** `POST …/dead-letters/replay/cancel`: stops the running replay after the dead letter in hand. */
export function cancelReplayHandler(find: Find): RequestHandler {
  return withConnection(find, (services, _req, res) => {
    res.json({ cancelled: services.replays.cancel() });
  });
}

/** `POST …/dead-letters/discard` `{keys?, event?}`: drops the selection (none: every dead letter). */
export function discardHandler(find: Find): RequestHandler {
  return withConnection(find, (services, req, res) => {
    let selection: DeadLetterSelection;
    try {
      selection = readSelection(req.body, false);
    } catch (error) {
      res.status(400).json({ error: errorMessage(error) });
      return;
    }
    discardDeadLetters(services.delivery, selection).then(
      (discarded) => res.json({ discarded }),
      (error: unknown) => storeFailed(res, error),
    );
  });
}

/**
 * The selection of a replay or discard body. Every field is checked, an unknown one too: a typo such as
 * `{"key": …}` must not replay every dead letter.
 */
export function readSelection(body: unknown, allowVia: boolean): ReplayRequest {
  if (body === undefined || body === null || body === "") return {};
  if (!isPlainObject(body)) throw new Error("the body must be a JSON object: {keys?, event?}");
  const known = allowVia ? ["keys", "event", "via"] : ["keys", "event"];
  const unknown = Object.keys(body).filter((field) => !known.includes(field));
  if (unknown.length > 0)
    throw new Error(
      `unknown field ${unknown.map((f) => JSON.stringify(f)).join(", ")}; use ${known.join(", ")}`,
    );
  const selection: ReplayRequest = {};
  if (body.keys !== undefined) {
    const keys = body.keys;
    if (!Array.isArray(keys) || keys.some((key) => typeof key !== "string" || key === ""))
      throw new Error("keys must be an array of dead-letter keys (strings)");
    if (keys.length === 0) throw new Error("keys is empty: leave it out to act on every dead letter");
    if (keys.length > MAX_KEYS) throw new Error(`keys names ${keys.length} keys; at most ${MAX_KEYS}`);
    selection.keys = [...new Set(keys as string[])];
  }
  for (const field of ["event", "via"] as const) {
    const value = body[field];
    if (value === undefined) continue;
    if (typeof value !== "string" || value.trim() === "")
      throw new Error(`${field} must be a non-empty string`);
    selection[field] = value.trim();
  }
  return selection;
}

function storeFailed(res: Response, error: unknown): void {
  if (error instanceof StoreUnavailableError)
    res.status(503).json({ error: `the connection's store cannot answer: ${errorMessage(error)}` });
  else res.status(500).json({ error: `failed: ${errorMessage(error)}` });
}

/** An entry dies when it comes due once more after its last attempt, which counted one more than was sent. */
function view(entry: InboxEntry, maxAttempts: number): DeadLetterView {
  return {
    key: entry.key,
    sourceNodeId: entry.sourceNodeId,
    event: eventOf(entry),
    attempts: Math.min(entry.attempt, maxAttempts),
    admittedAt: new Date(entry.admittedAt).toISOString(),
    lastError: entry.lastError,
    message: entry.message,
  };
}
