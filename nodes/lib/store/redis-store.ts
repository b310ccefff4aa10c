import type { ConnectionOptions as TlsOptions } from "node:tls";

import { errorMessage } from "../node-red/errors";
import type {
  ConnectionStore,
  InboxEntry,
  Lease,
  NewInboxEntry,
  StoredMessage,
  StoreKind,
} from "./connection-store";
import type { HealthReporting, StoreHealth } from "./health";
import { RedisClaims } from "./redis/claims";
import { RedisConnection, type RedisConnectionOptions, type StoreLog } from "./redis/connection";
import { RedisKeys } from "./redis/keys";
import { acquireRedisLease } from "./redis/lease";
import { ADMIT, CONFIRM, DEAD_LETTERS, MARK_DEAD, RETRY, TAKE_DUE } from "./redis/scripts";
import { parseRedisUrl } from "./redis/url";
import { UnavailableStore } from "./unavailable-store";

export interface RedisStoreOptions {
  connection: RedisConnection;
  /** `redisPrefix`: every key of this store starts with it. */
  prefix: string;
  /** `dedupeHours`: how long a claimed key stays claimed (the key's expiry in Redis). */
  claimTtlMs: number;
  /** `redeliverSeconds`: when an admitted entry is first due again if it is not confirmed. */
  redeliverMs: number;
  log: StoreLog;
  now?: () => number;
}

/** The immutable part of an inbox entry, one JSON value in Redis. */
interface StoredEntry {
  sourceNodeId: string;
  message: StoredMessage;
  admittedAt: number;
}

const DEFAULT_DEAD_LETTER_LIMIT = 100;

/**
 * The ConnectionStore in Redis or Valkey (`store: redis`), shared by every Node-RED instance that uses the same
 * Redis and prefix. Claims are `SET NX PX` with a token of this process (redis/claims.ts); every inbox change
 * that must be atomic is one Lua script; leases are tokens with a TTL. Redis away: every call rejects at once with StoreUnavailableError (no queue), and the
 * store resumes by itself when Redis is back.
 */
export class RedisStore implements ConnectionStore, HealthReporting {
  readonly kind: StoreKind = "redis";
  private readonly connection: RedisConnection;
  private readonly keys: RedisKeys;
  private readonly claims: RedisClaims;
  private readonly claimTtlMs: number;
  private readonly redeliverMs: number;
  private readonly now: () => number;

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

  /** The Redis this store uses, without its password. */
  get display(): string {
    return this.connection.display;
  }

  claim(key: string): Promise<boolean> {
    return this.claims.claim(this.keys.claim(key));
  }

  release(key: string): Promise<void> {
    return this.claims.release(this.keys.claim(key));
  }

  async admit(entry: NewInboxEntry): Promise<"fresh" | "duplicate"> {
    const now = this.now();
    const stored: StoredEntry = { sourceNodeId: entry.sourceNodeId, message: entry.message, admittedAt: now };
    const k = this.keys;
    const fresh = await this.connection.run((client) =>
      ADMIT.run(
        client,
        [k.claim(entry.key), k.entries, k.due, k.attempts],
        [entry.key, this.claimTtlMs, JSON.stringify(stored), now + this.redeliverMs],
      ),
    );
    return fresh === 1 ? "fresh" : "duplicate";
  }

  async confirm(key: string): Promise<boolean> {
    const k = this.keys;
    const existed = await this.connection.run((client) =>
      CONFIRM.run(client, [k.entries, k.due, k.attempts, k.errors, k.dead], [key]),
    );
    return existed === 1;
  }

  async retry(key: string, delayMs: number, reason?: string): Promise<boolean> {
    const dueAt = this.now() + Math.max(0, Math.round(delayMs));
    const rescheduled = await this.connection.run((client) =>
      RETRY.run(client, [this.keys.due, this.keys.errors], [key, dueAt, reason ?? ""]),
    );
    return rescheduled === 1;
  }

  async takeDue(now: number, redeliverMs: number, limit: number): Promise<InboxEntry[]> {
    if (limit <= 0) return [];
    const k = this.keys;
    const nextDue = now + Math.max(0, Math.round(redeliverMs));
    const flat = await this.connection.run((client) =>
      TAKE_DUE.run(client, [k.entries, k.due, k.attempts, k.errors], [now, nextDue, Math.floor(limit)]),
    );
    const taken: InboxEntry[] = [];
    for (const [key, json, attempt, lastError] of rows(flat, 4)) {
      const stored = this.decode(key, json);
      if (stored) taken.push(inboxEntry(key, stored, Number(attempt), nextDue, lastError));
    }
    return taken;
  }

  async markDead(key: string, reason: string): Promise<void> {
    const k = this.keys;
    await this.connection.run((client) =>
      MARK_DEAD.run(client, [k.due, k.errors, k.dead], [key, reason, this.now()]),
    );
  }

  async deadLetters(limit = DEFAULT_DEAD_LETTER_LIMIT): Promise<InboxEntry[]> {
    if (limit <= 0) return [];
    const k = this.keys;
    const flat = await this.connection.run((client) =>
      DEAD_LETTERS.run(client, [k.entries, k.attempts, k.errors, k.dead], [Math.floor(limit)]),
    );
    const dead: InboxEntry[] = [];
    for (const [key, json, attempt, lastError, diedAt] of rows(flat, 5)) {
      const stored = parseEntry(json);
      if (stored)
        dead.push({ ...inboxEntry(key, stored, Number(attempt), Number(diedAt), lastError), dead: true });
    }
    return dead;
  }

  async inboxCounts(): Promise<{ pending: number; dead: number }> {
    const [pending, dead] = await this.connection.run((client) =>
      Promise.all([client.zCard(this.keys.due), client.zCard(this.keys.dead)]),
    );
    return { pending: Number(pending), dead: Number(dead) };
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

  /** A taken entry that cannot be read would be taken forever: it becomes a dead letter with the reason. */
  private decode(key: string, json: string): StoredEntry | undefined {
    const stored = parseEntry(json);
    if (!stored) void this.markDead(key, "the inbox entry in Redis is not valid JSON").catch(() => undefined);
    return stored;
  }
}

export interface RedisStoreConfig {
  redisUrl: string | undefined;
  prefix: string;
  claimTtlMs: number;
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
