import type { ConnectionOptions as TlsOptions } from "node:tls";

import { errorMessage } from "../../node-red/errors";
import type {
  ConnectionStore,
  DueRequest,
  InboxEntry,
  InboxState,
  Lease,
  NewInboxEntry,
  StoredMessage,
  StoreHealth,
  StoreKind,
} from "../connection-store";
import { dueGrace } from "../due-request";
import { UnavailableStore } from "../unavailable-store";
import { RedisClaims } from "./claims";
import { RedisConnection, type RedisConnectionOptions, type StoreLog } from "./connection";
import { RedisKeys } from "./keys";
import { acquireRedisLease } from "./lease";
import {
  ADMIT,
  CONFIRM,
  DEAD_LETTERS,
  MARK_DEAD,
  MOVE_LEGACY_DUE,
  OLDEST_PENDING,
  REPLAY_DEAD,
  RETRY,
  TAKE_DUE,
  TRACK_ADMITTED,
} from "./scripts";
import { parseRedisUrl } from "./url";

export interface RedisStoreOptions {
  connection: RedisConnection;
  /** `redisPrefix`: every key of this store starts with it. */
  prefix: string;
  /** `dedupeHours`: how long a claimed key stays claimed (the key's expiry in Redis). */
  claimTtlMs: number;
  /** `redeliverSeconds` as the delivery reads it: when an admitted entry is first due again if not confirmed. */
  redeliverMs: number;
  log: StoreLog;
  /** The admission time kept with an entry (shown with dead letters); due times are Redis's. */
  now?: () => number;
}

/** The immutable part of an inbox entry, one JSON value in Redis. */
interface StoredEntry {
  sourceNodeId: string;
  message: StoredMessage;
  admittedAt: number;
}

const DEFAULT_DEAD_LETTER_LIMIT = 100;
/** Entries moved per script from the one due set of older versions. */
const LEGACY_BATCH = 200;
/** A script said the entry's source node changed under the call: read it again this often at most. */
const SOURCE_READS = 3;
const UNREADABLE = "the inbox entry in Redis is not valid JSON";
/** Entries read per HSCAN page when older pending entries are added to the admitted set. */
const TRACK_BATCH = 500;
/** After adding them, pending entries still missing from the admitted set are looked for again this much later. */
const TRACK_AGAIN_MS = 60_000;

/**
 * The ConnectionStore in Redis or Valkey (`store: redis`), shared by every Node-RED instance that uses the same
 * Redis and prefix. Claims are `SET NX PX` with a token of this process (redis/claims.ts); every inbox change
 * that must be atomic is one Lua script, timed by Redis's clock; leases are tokens with a TTL. Redis away:
 * every call rejects at once with StoreUnavailableError (no queue), and the store resumes by itself when Redis
 * is back.
 */
export class RedisStore implements ConnectionStore {
  readonly kind: StoreKind = "redis";
  private readonly connection: RedisConnection;
  private readonly keys: RedisKeys;
  private readonly claims: RedisClaims;
  private readonly claimTtlMs: number;
  private readonly redeliverMs: number;
  private readonly now: () => number;
  /** When untracked pending entries were last added to the admitted set (epoch ms). */
  private trackedAt = -Infinity;

  constructor(options: RedisStoreOptions) {
    this.connection = options.connection;
    this.keys = new RedisKeys(options.prefix);
    this.claimTtlMs = Math.max(1, Math.round(options.claimTtlMs));
    this.redeliverMs = Math.max(0, Math.round(options.redeliverMs));
    this.now = options.now ?? Date.now;
    this.claims = new RedisClaims({
      connection: this.connection,
      claimTtlMs: this.claimTtlMs,
      log: options.log,
    });
  }

  get health(): StoreHealth {
    return this.connection.health;
  }

  onHealth(listener: (health: StoreHealth) => void): () => void {
    this.connection.on("health", listener);
    return () => this.connection.off("health", listener);
  }

  claim(key: string): Promise<boolean> {
    return this.claims.claim(this.keys.claim(key));
  }

  release(key: string): Promise<void> {
    return this.claims.release(this.keys.claim(key));
  }

  async admit(entry: NewInboxEntry): Promise<"fresh" | "duplicate"> {
    const stored: StoredEntry = {
      sourceNodeId: entry.sourceNodeId,
      message: entry.message,
      admittedAt: this.now(),
    };
    const k = this.keys;
    const source = entry.sourceNodeId;
    const fresh = await this.connection.run((client) =>
      ADMIT.run(
        client,
        [k.claim(entry.key), k.entries, k.due(source), k.attempts, k.sourceOf, k.sources, k.admitted],
        [entry.key, this.claimTtlMs, JSON.stringify(stored), this.redeliverMs, source],
      ),
    );
    return fresh === 1 ? "fresh" : "duplicate";
  }

  confirm(key: string): Promise<boolean> {
    return this.drop(key, "");
  }

  discardDead(key: string): Promise<boolean> {
    return this.drop(key, "dead");
  }

  /** Confirms the entry, or with "dead" drops it only while it is a dead letter. */
  private async drop(key: string, only: "" | "dead"): Promise<boolean> {
    const k = this.keys;
    const existed = await this.bySource(key, (source) =>
      this.connection.run((client) =>
        CONFIRM.run(
          client,
          [
            k.entries,
            k.due(source),
            k.attempts,
            k.errors,
            k.dead,
            k.sourceOf,
            k.sources,
            k.legacyDue,
            k.admitted,
          ],
          [key, source ?? "", only],
        ),
      ),
    );
    return existed === 1;
  }

  async retry(key: string, delayMs: number, reason?: string): Promise<boolean> {
    const k = this.keys;
    const delay = Math.max(0, Math.round(delayMs));
    const rescheduled = await this.bySource(key, (source) =>
      this.connection.run((client) =>
        RETRY.run(client, [k.due(source), k.errors, k.sourceOf], [key, delay, reason ?? "", source ?? ""]),
      ),
    );
    return rescheduled === 1;
  }

  async takeDue(request: DueRequest): Promise<InboxEntry[]> {
    if (request.limit <= 0) return [];
    const k = this.keys;
    const [listed, legacy] = await this.connection.run((client) =>
      Promise.all([client.sMembers(k.sources), client.exists(k.legacyDue)]),
    );
    let sources = listed;
    if (Number(legacy) > 0) {
      await this.moveLegacyDue();
      sources = await this.connection.run((client) => client.sMembers(k.sources));
    }
    const graceOf = dueGrace(request);
    const sets: { source: string; grace: number }[] = [];
    for (const source of sources.map(String)) {
      const grace = graceOf(source);
      if (grace !== undefined) sets.push({ source, grace });
    }
    if (sets.length === 0) return [];
    const flat = await this.connection.run((client) =>
      TAKE_DUE.run(
        client,
        [k.entries, k.attempts, k.errors, k.sourceOf, k.sources, ...sets.map(({ source }) => k.due(source))],
        [
          Math.max(0, Math.round(request.redeliverMs)),
          Math.floor(request.limit),
          ...sets.flatMap(({ source, grace }) => [source, Math.round(grace)]),
        ],
      ),
    );
    const [nextDue, ...taken] = Array.isArray(flat) ? flat : [];
    const entries: InboxEntry[] = [];
    for (const [key, json, attempt, lastError] of rows(taken, 4)) {
      const stored = this.decode(key, json);
      if (stored) entries.push(inboxEntry(key, stored, Number(attempt), Number(nextDue), lastError));
    }
    return entries;
  }

  async markDead(key: string, reason: string): Promise<void> {
    const k = this.keys;
    await this.bySource(key, (source) =>
      this.connection.run((client) =>
        MARK_DEAD.run(
          client,
          [k.due(source), k.errors, k.dead, k.sourceOf, k.sources, k.admitted],
          [key, reason, source ?? ""],
        ),
      ),
    );
  }

  async deadLetters(limit = DEFAULT_DEAD_LETTER_LIMIT, offset = 0): Promise<InboxEntry[]> {
    if (limit <= 0) return [];
    const k = this.keys;
    const flat = await this.connection.run((client) =>
      DEAD_LETTERS.run(
        client,
        [k.entries, k.attempts, k.errors, k.dead],
        [Math.floor(limit), Math.max(0, Math.floor(offset))],
      ),
    );
    const dead: InboxEntry[] = [];
    for (const [key, json, attempt, lastError, diedAt] of rows(flat, 5)) {
      const stored = parseEntry(json);
      if (stored)
        dead.push({ ...inboxEntry(key, stored, Number(attempt), Number(diedAt), lastError), dead: true });
    }
    return dead;
  }

  async replayDead(key: string, sourceNodeId?: string): Promise<boolean> {
    const k = this.keys;
    const json = await this.connection.run((client) => client.hGet(k.entries, key));
    const stored = json === null || json === undefined ? undefined : parseEntry(String(json));
    if (!stored) return false;
    const source = sourceNodeId ?? stored.sourceNodeId;
    const replayed: StoredEntry = {
      sourceNodeId: source,
      message: { ...stored.message, clarus: { ...stored.message.clarus, replayed: true } },
      admittedAt: this.now(),
    };
    const done = await this.connection.run((client) =>
      REPLAY_DEAD.run(
        client,
        [k.entries, k.dead, k.attempts, k.sourceOf, k.sources, k.due(source), k.admitted],
        [key, JSON.stringify(replayed), source],
      ),
    );
    return done === 1;
  }

  async inboxCounts(): Promise<{ pending: number; dead: number }> {
    // Every entry is pending or dead until it is confirmed, whichever due set it is in.
    const [entries, dead] = await this.connection.run((client) =>
      Promise.all([client.hLen(this.keys.entries), client.zCard(this.keys.dead)]),
    );
    return { pending: Math.max(0, Number(entries) - Number(dead)), dead: Number(dead) };
  }

  async oldestPendingAge(): Promise<number | undefined> {
    return (await this.inboxState()).oldestPendingMs;
  }

  /** One script: the oldest pending age, and the entry and dead-letter counts it read on the way. */
  async inboxState(): Promise<InboxState> {
    const k = this.keys;
    const read = async () => {
      const reply = await this.connection.run((client) =>
        OLDEST_PENDING.run(client, [k.admitted, k.entries, k.dead], []),
      );
      const [age = -1, tracked = 0, entries = 0, dead = 0] = (Array.isArray(reply) ? reply : []).map(Number);
      return { age, dead, pending: Math.max(0, entries - dead), untracked: entries - dead - tracked };
    };
    let seen = await read();
    // Pending entries of an older version are not in the admitted set yet: added once (again only after a
    // while, in case an older instance of a rolling deploy goes on admitting without it).
    if (seen.untracked > 0 && this.now() - this.trackedAt >= TRACK_AGAIN_MS) {
      this.trackedAt = this.now();
      await this.trackAdmitted();
      seen = await read();
    }
    return { pending: seen.pending, dead: seen.dead, oldestPendingMs: seen.age >= 0 ? seen.age : undefined };
  }

  async readDocument(name: string): Promise<unknown> {
    const text = await this.connection.run((client) => client.get(this.keys.document(name)));
    if (text === null || text === undefined) return undefined;
    try {
      return JSON.parse(String(text));
    } catch (error) {
      throw new Error(`document ${name} in Redis is not valid JSON: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  async writeDocument(name: string, value: unknown): Promise<void> {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`document ${name}: ${typeof value} cannot be stored as JSON`);
    await this.connection.run((client) => client.set(this.keys.document(name), text));
  }

  async removeDocument(name: string): Promise<void> {
    await this.connection.run((client) => client.del(this.keys.document(name)));
  }

  acquireLease(name: string, ttlMs: number): Promise<Lease | undefined> {
    return acquireRedisLease(this.connection, this.keys.lease(name), ttlMs);
  }

  /**
   * Disconnects. Nothing is deleted from Redis even when the connection was removed: the keys belong to the
   * prefix, which other instances, or a new connection for the same tenant, go on using (claims expire anyway).
   */
  async close(_removed: boolean): Promise<void> {
    await this.claims.close();
    await this.connection.close();
  }

  /** Puts every pending entry into the admitted set that is not in it, at the admission time it carries. */
  private async trackAdmitted(): Promise<void> {
    const k = this.keys;
    let cursor = "0";
    do {
      const page = await this.connection.run((client) =>
        client.hScan(k.entries, cursor, { COUNT: TRACK_BATCH }),
      );
      cursor = String(page.cursor);
      const pairs: (string | number)[] = [];
      for (const { field, value } of page.entries) {
        const stored = parseEntry(String(value));
        if (stored && Number.isFinite(stored.admittedAt)) pairs.push(String(field), stored.admittedAt);
      }
      if (pairs.length > 0)
        await this.connection.run((client) =>
          TRACK_ADMITTED.run(client, [k.admitted, k.entries, k.dead], pairs),
        );
    } while (cursor !== "0");
  }

  /** A taken entry that cannot be read would be taken forever: it becomes a dead letter with the reason. */
  private decode(key: string, json: string): StoredEntry | undefined {
    const stored = parseEntry(json);
    if (!stored) void this.markDead(key, UNREADABLE).catch(() => undefined);
    return stored;
  }

  /**
   * Runs `change` with the entry's source node as Redis records it (null: none recorded), which names its
   * due set; again when the script answers -1 (the record changed in between).
   */
  private async bySource(key: string, change: (source: string | null) => Promise<unknown>): Promise<unknown> {
    for (let read = 1; ; read++) {
      const source = await this.connection.run((client) => client.hGet(this.keys.sourceOf, key));
      const result = await change(source === null || source === undefined ? null : String(source));
      if (result !== -1 || read >= SOURCE_READS) return result;
    }
  }

  /**
   * Moves the pending entries of the one due set that versions before the per-source sets kept (an older
   * version's data, or an older instance's admissions during a rolling deploy) into their source's due set.
   */
  private async moveLegacyDue(): Promise<void> {
    const k = this.keys;
    for (;;) {
      const keys = (
        await this.connection.run((client) => client.zRange(k.legacyDue, 0, LEGACY_BATCH - 1))
      ).map(String);
      if (keys.length === 0) return;
      const json = await this.connection.run((client) => client.hmGet(k.entries, keys));
      const sources: string[] = [];
      const moves: (string | number)[] = [];
      keys.forEach((key, index) => {
        const value = json[index];
        const stored = value === null || value === undefined ? undefined : parseEntry(String(value));
        // No entry: the script drops the key. Unreadable: it becomes a dead letter, as a taken one would.
        const source = stored?.sourceNodeId;
        if (source === undefined) {
          moves.push(key, 0, "");
          return;
        }
        let set = sources.indexOf(source);
        if (set < 0) set = sources.push(source) - 1;
        moves.push(key, set + 1, source);
      });
      await this.connection.run((client) =>
        MOVE_LEGACY_DUE.run(
          client,
          [k.legacyDue, k.entries, k.sourceOf, k.sources, k.errors, k.dead, ...sources.map((s) => k.due(s))],
          [UNREADABLE, ...moves],
        ),
      );
      if (keys.length < LEGACY_BATCH) return;
    }
  }
}

export interface RedisStoreConfig {
  redisUrl: string | undefined;
  prefix: string;
  claimTtlMs: number;
  /** The delivery's `redeliverSeconds` in ms (delivery/settings.ts reads it, for both). */
  redeliverMs: number;
  /** settings.js `clarus.redis.tls`: more TLS options, e.g. a private CA. */
  tls?: TlsOptions;
  /** Test and bench tuning of timeouts and reconnect delays. */
  timing?: Partial<Omit<RedisConnectionOptions, "target" | "tls" | "log">>;
  log: StoreLog;
}

/**
 * The store for `store: redis`. A redisUrl that does not parse gives a store whose every call rejects with the
 * reason (and one log line), so a bad URL is a clear status, never a crash at deploy.
 */
export function createRedisStore(config: RedisStoreConfig): RedisStore | UnavailableStore {
  let target;
  try {
    target = parseRedisUrl(config.redisUrl);
  } catch (error) {
    const cause = errorMessage(error);
    config.log.warn(`Redis store not started: ${cause}`);
    return new UnavailableStore("redis", config.redisUrl?.trim() ? "bad redisUrl" : "no redisUrl", cause);
  }
  const connection = new RedisConnection({ ...config.timing, target, tls: config.tls, log: config.log });
  return new RedisStore({
    connection,
    prefix: config.prefix,
    claimTtlMs: config.claimTtlMs,
    redeliverMs: config.redeliverMs,
    log: config.log,
  });
}

function parseEntry(json: string): StoredEntry | undefined {
  try {
    const value = JSON.parse(json) as Partial<StoredEntry> | null;
    if (!value || typeof value.sourceNodeId !== "string" || typeof value.message !== "object")
      return undefined;
    return value as StoredEntry;
  } catch {
    return undefined;
  }
}

function inboxEntry(
  key: string,
  stored: StoredEntry,
  attempt: number,
  dueAt: number,
  lastError: string,
): InboxEntry {
  const entry: InboxEntry = {
    key,
    sourceNodeId: stored.sourceNodeId,
    message: stored.message,
    attempt,
    dueAt,
    admittedAt: stored.admittedAt,
  };
  if (lastError !== "") entry.lastError = lastError;
  return entry;
}

/** A script's flat reply, `width` strings per row. */
function* rows(reply: unknown, width: number): Generator<string[]> {
  const flat = Array.isArray(reply) ? reply.map(String) : [];
  for (let index = 0; index + width <= flat.length; index += width) yield flat.slice(index, index + width);
}
