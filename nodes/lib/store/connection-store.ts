import type { ClarusMeta } from "../events/message";

/**
 * Everything a clarus-connection keeps between requests, runs, redeploys and restarts, behind one
 * interface with two backends: files in the Node-RED user directory (`store: file`, the default) and
 * Redis or Valkey (`store: redis`, shared by several Node-RED instances; see docs/several-instances.md).
 * Nodes never touch files or Redis themselves.
 *
 * Every method may reject with a StoreUnavailableError (Redis unreachable, a disk that refuses writes, a
 * store already closed): callers then answer 503 (webhook-in) or wait (poll), and nothing is half done.
 * Keys are the events' dedupe keys (`msg.clarus.dedupeKey`); the inbox holds at most one entry a key.
 */
export interface ConnectionStore {
  /** "file" or "redis", for status texts and logs. */
  readonly kind: StoreKind;

  /** How the backend is doing now: files are "ready" until closed; Redis can be connecting or away. */
  readonly health: StoreHealth;

  /** Calls `listener` at each change of `health`; returns the function that stops listening. */
  onHealth(listener: (health: StoreHealth) => void): () => void;

  /**
   * Claims a dedupe key for `dedupeHours` (the `on-receipt` path). True the first time within the
   * window, false for a repeat. Atomic: two concurrent claims of one key never both win.
   */
  claim(key: string): Promise<boolean>;

  /**
   * Undoes a claim this caller won but whose event it could not hand on (its node closed while the claim was
   * on its way, a redeploy): the key is fresh again, so Clarus's retry of the event is not a duplicate.
   */
  release(key: string): Promise<void>;

  /**
   * The `on-confirm` path: claims the entry's key and, when it is fresh, writes the entry durably as
   * pending. Resolves only once the entry would survive kill -9 and power loss (file: fsync, shared by
   * concurrent callers; Redis: the write is acknowledged). A failed write releases the claim, so a
   * retry of the same event is fresh again. "duplicate" when the key is claimed (within `dedupeHours`)
   * or still in the inbox (pending, dead, or done and not yet compacted away).
   */
  admit(entry: NewInboxEntry): Promise<"fresh" | "duplicate">;

  /**
   * The event is done: removed from the inbox (dropped from storage at the next compaction); its key stays
   * claimed. Confirming a dead letter clears it. False for a key that is unknown or already done.
   */
  confirm(key: string): Promise<boolean>;

  /**
   * Send the pending event again after `delayMs` (a `clarus-confirm` with `retry`), with `reason` kept as its
   * last error. The attempt is counted when it is sent (`takeDue`). False when the key is not pending.
   */
  retry(key: string, delayMs: number, reason?: string): Promise<boolean>;

  /**
   * Pending entries due now that `request` may take (see DueRequest), the longest due first, at most `limit`,
   * each taken atomically by this caller: its attempt is counted and its next due time moved to
   * `redeliverMs` from now, so no other caller (nor instance) takes it before then. The returned entries carry
   * the counted attempt. "Now" is the store's clock: a store shared by several instances (Redis) reads its
   * server's, so an instance whose clock is off neither sends early nor late.
   *
   * After a restart the messages that were in flight are gone. A store that only this process uses (file)
   * therefore counts every pending entry it loads as due at once; a store shared by several instances
   * (Redis) keeps the due times, since another instance may still be working on them.
   */
  takeDue(request: DueRequest): Promise<InboxEntry[]>;

  /** Keeps the pending entry as a dead letter: never sent again, listed by `deadLetters()`. */
  markDead(key: string, reason: string): Promise<void>;

  /** Dead letters, oldest first, at most `limit` (default 100), after the first `offset` of them. */
  deadLetters(limit?: number, offset?: number): Promise<InboxEntry[]>;

  /**
   * An operator's replay: the dead letter is pending again, due now, counted as admitted now, its attempts
   * counted from zero and its message marked `clarus.replayed`. Its key stays claimed (a replay bypasses dedupe).
   * `sourceNodeId` sends it through another node than the one that admitted it (that one is gone). Atomic:
   * of two callers replaying one key (two instances sharing a Redis), one gets true. False when the key is not
   * a dead letter (any more).
   */
  replayDead(key: string, sourceNodeId?: string): Promise<boolean>;

  /** Drops a dead letter; its key stays claimed. False when the key is not a dead letter (a pending one stays). */
  discardDead(key: string): Promise<boolean>;

  /** Pending and dead entries now, for the status. */
  inboxCounts(): Promise<{ pending: number; dead: number }>;

  /** How long the oldest pending entry has waited since it was admitted, in ms; undefined when none is pending. */
  oldestPendingAge(): Promise<number | undefined>;

  /** Both of the above in one read (one round trip to Redis), for a scrape, an alert check, the editor. */
  inboxState(): Promise<InboxState>;

  /**
   * A small JSON document by name (poll watermarks, the discovered automation map); undefined if none.
   * Names are made of letters, digits, `-` and `_`; the file backend keeps `<name>.json` in the connection's
   * state directory, so the 0.1 poll state `clarus/poll-<node id>.json` is the document `poll-<node id>`.
   */
  readDocument(name: string): Promise<unknown>;
  writeDocument(name: string, value: unknown): Promise<void>;
  removeDocument(name: string): Promise<void>;

  /**
   * One holder at a time across instances for `name` (a poll node's runs). Undefined when another
   * holder has it. The file backend, on one instance, always grants.
   */
  acquireLease(name: string, ttlMs: number): Promise<Lease | undefined>;

  /** Writes what is buffered and stops; `removed` (the connection was deleted) also drops its data. */
  close(removed: boolean): Promise<void>;
}

/**
 * How a store's backend is doing, for logs and node status: a Redis that is away, a store that could not be
 * built from its configuration. A call made while it is not "ready" rejects with StoreUnavailableError.
 */
export type StoreHealth =
  | { state: "connecting" }
  | { state: "ready" }
  /** `summary`: a few words for the node status; `cause`: the sentence for the log. */
  | { state: "unavailable"; summary: string; cause: string; since: number }
  | { state: "closed" };

/** The inbox at one moment: pending and dead counts, and the oldest pending entry's age in ms (none pending: undefined). */
export interface InboxState {
  pending: number;
  dead: number;
  oldestPendingMs?: number;
}

/** The part of a store that keeps named JSON documents (poll watermarks, registration memory). */
export type Documents = Pick<ConnectionStore, "readDocument" | "writeDocument" | "removeDocument">;

/**
 * A node id or document name as a file name or key part, the same in every backend: anything but letters,
 * digits, `_` and `-` becomes `_`.
 */
export function safeFileName(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, "_");
}

export type StoreKind = "file" | "redis";

/**
 * Which due entries a caller may take: only one that can send an entry may take it, since taking counts an
 * attempt. Connections that share a store (one tenant's, on Redis) and instances that run different flows for
 * a while (a rolling deploy) each see entries that are not theirs to send.
 */
export interface DueRequest {
  /** The source nodes this caller sends for: their entries are taken as soon as they are due. */
  sources: ReadonlySet<string>;
  /**
   * Whether a source node that is not in `sources` stands in this instance's deployed flows (disabled, or
   * sending through another connection that shares the store): its entries are left alone.
   */
  isDeployed(sourceNodeId: string): boolean;
  /**
   * An entry of a node in neither (deleted, or new and not deployed here yet) is taken only once it has been
   * due this long: it must still end as a dead letter if its node is gone for good, but an instance that
   * lacks a node for the length of a rolling deploy must not use up the attempts of the instances that have it.
   */
  goneSourceGraceMs: number;
  /** When a taken entry is next due, from now. */
  redeliverMs: number;
  limit: number;
}

/** What an event source hands to `admit`. */
export interface NewInboxEntry {
  key: string;
  /** The webhook-in or poll node that sends it, and sends it again. */
  sourceNodeId: string;
  /** The message as first sent, without `_msgid`. */
  message: StoredMessage;
  /**
   * `message.payload` as the JSON text it came as, when the caller already holds it (a webhook's body, its BOM
   * dropped): a store that serialises the message writes it instead of serialising the payload again.
   */
  payloadJson?: string;
}

/**
 * The message as first sent (`_msgid` is not kept: each send gets its own). Spelled out rather than
 * `Omit<ClarusMessage, "_msgid">`, which would keep only NodeMessage's index signature.
 */
export interface StoredMessage {
  topic: string;
  payload: Record<string, unknown>;
  clarus: ClarusMeta;
  _msgid?: string;
}

export interface InboxEntry extends NewInboxEntry {
  /** Sends so far, the first included. */
  attempt: number;
  /** Epoch ms of the next send. */
  dueAt: number;
  /** Epoch ms when it was admitted. */
  admittedAt: number;
  /** Why the last attempt failed (a `retry`, or the dead-letter reason). */
  lastError?: string;
  dead?: boolean;
}

export interface Lease {
  /** Renews for another `ttlMs`; false when the lease was lost (expired and taken by another holder). */
  renew(): Promise<boolean>;
  release(): Promise<void>;
}

/** The store cannot answer now; the cause is in the message, never a secret. */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
}

/**
 * Asked after `close()`: during a redeploy, nothing may be claimed or admitted into a store being closed. Its
 * name stays StoreUnavailableError (callers answer it the same way); `instanceof` tells it apart.
 */
export class StoreClosedError extends StoreUnavailableError {}

/**
 * The store can never take this event, whatever the disk or Redis does (it cannot be serialised): the event's
 * own error, answered 400 and reported for the event, never counted as the store failing.
 */
export class UnstorableEventError extends Error {
  override name = "UnstorableEventError";
}
