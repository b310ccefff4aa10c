import { EventEmitter } from "node:events";
import { isIP } from "node:net";
import type { ConnectionOptions as TlsOptions } from "node:tls";

import {
  ClientClosedError,
  ClientOfflineError,
  createClient,
  ErrorReply,
  SocketClosedUnexpectedlyError,
} from "@redis/client";

import type { StoreHealth } from "../connection-store";
import { StoreUnavailableError } from "../connection-store";
import { type Cause, describeCause, isUnavailableReply } from "./causes";
import type { RedisTarget } from "./url";

/**
 * The connection failed while the call was on its way: Redis may have run it, and only its reply was lost.
 * Still a StoreUnavailableError to callers, who answer 503; a store that wrote something tells it apart.
 */
export class OutcomeUnknownError extends StoreUnavailableError {}

/**
 * A call with no reply within the response timeout. Worded as node-redis words its idle timeout ("Socket
 * timeout"), so both name the same cause: Redis stopped answering.
 */
class ReplyOverdueError extends Error {
  constructor(ms: number) {
    super(`Socket timeout: no reply within ${ms} ms`);
  }
}

export interface StoreLog {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

export interface RedisConnectionOptions {
  target: RedisTarget;
  /** More TLS options for `rediss://`, e.g. `ca` for a private certificate authority (settings.js). */
  tls?: TlsOptions;
  /** TCP (and TLS) connect. The first calls wait up to this plus the response timeout for the first connection. */
  connectTimeoutMs?: number;
  /** No reply within this time: the socket is dropped, pending calls reject, and it reconnects. */
  responseTimeoutMs?: number;
  /** A PING this often keeps the response timeout armed while idle, so a hung server is noticed. */
  pingIntervalMs?: number;
  /** Reconnect delays: doubling from `reconnectBaseMs` up to `reconnectMaxMs`, with jitter, forever. */
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  log: StoreLog;
}

export const REDIS_TIMING = {
  connectTimeoutMs: 5000,
  responseTimeoutMs: 5000,
  pingIntervalMs: 2000,
  reconnectBaseMs: 100,
  reconnectMaxMs: 5000,
};

function buildClient(options: RedisConnectionOptions, reconnectDelay: (retries: number) => number) {
  const { target } = options;
  const timing = { ...REDIS_TIMING, ...definedOnly(options) };
  const common = {
    host: target.host,
    port: target.port,
    connectTimeout: timing.connectTimeoutMs,
    socketTimeout: timing.responseTimeoutMs,
    reconnectStrategy: reconnectDelay,
  };
  return createClient({
    socket: target.tls
      ? // SNI carries host names only (RFC 6066); Node warns when it is given an IP address.
        { ...common, ...options.tls, tls: true, ...(isIP(target.host) ? {} : { servername: target.host }) }
      : { ...common, tls: false },
    username: target.username,
    password: target.password,
    database: target.database,
    pingInterval: timing.pingIntervalMs,
    // A call made while Redis is away fails at once (StoreUnavailableError) instead of waiting in an unbounded
    // queue: webhook-in answers 503 and Clarus retries later; nothing piles up in memory.
    disableOfflineQueue: true,
    // Redis Enterprise maintenance hints: not for a self-hosted Redis or Valkey; saves a handshake round trip.
    maintNotifications: "disabled",
    name: "node-red-clarus",
  });
}

export type StoreClient = ReturnType<typeof buildClient>;

/**
 * One node-redis client and what its state means for the store: calls run only while it is ready and reject
 * at once otherwise; it reconnects forever with backoff and resumes by itself; the log gets the first failure
 * and each change (a new cause, the recovery), repeats go to debug.
 */
export class RedisConnection extends EventEmitter {
  private current: StoreHealth = { state: "connecting" };
  private readonly client: StoreClient;
  private readonly target: RedisTarget;
  private readonly log: StoreLog;
  private readonly firstConnectionMs: number;
  private readonly responseTimeoutMs: number;
  /** A call got no reply within the response timeout, and none has come since: calls fail at once meanwhile. */
  private overdue = false;
  private connectedBefore = false;
  private firstHealth?: Promise<void>;
  /** Causes already logged at warn in this outage; a cause that comes back is logged at debug. */
  private readonly loggedCauses = new Set<string>();

  constructor(options: RedisConnectionOptions) {
    super();
    this.target = options.target;
    this.log = options.log;
    // Connect, then the handshake's replies: the longest a first connection takes to succeed or fail.
    this.responseTimeoutMs = options.responseTimeoutMs ?? REDIS_TIMING.responseTimeoutMs;
    this.firstConnectionMs =
      (options.connectTimeoutMs ?? REDIS_TIMING.connectTimeoutMs) + this.responseTimeoutMs;
    const base = options.reconnectBaseMs ?? REDIS_TIMING.reconnectBaseMs;
    const max = options.reconnectMaxMs ?? REDIS_TIMING.reconnectMaxMs;
    // Half fixed, half random: instances that lost the same Redis do not all come back in the same instant.
    const reconnectDelay = (retries: number) => {
      const ceiling = Math.min(max, base * 2 ** Math.min(retries, 20));
      return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    };
    this.client = buildClient(options, reconnectDelay);
    // node-redis throws an "error" event that has no listener; this one turns it into the store's health.
    this.client.on("error", (error: unknown) => this.failed(error));
    this.client.on("ready", () => this.ready());
    // Never settles while Redis is away (the strategy retries forever); failures arrive as "error" events.
    this.client.connect().catch(() => undefined);
  }

  get health(): StoreHealth {
    return this.current;
  }

  /** The target without its password, e.g. `redis://127.0.0.1:6379/0`. */
  get display(): string {
    return this.target.display;
  }

  /**
   * Runs `operation` on the client when Redis is ready. Rejects with StoreUnavailableError, at once, when it
   * is not (the first calls after a deploy wait up to the connect timeout for the first connection), and when
   * the connection fails under the call or no reply comes within the response timeout: with
   * OutcomeUnknownError when Redis may have run it. Error replies that are bugs stay ordinary errors.
   */
  async run<T>(operation: (client: StoreClient) => Promise<T>): Promise<T> {
    if (this.current.state === "connecting") await this.firstConnection();
    if (!this.client.isReady || this.overdue) throw this.unavailable();
    try {
      return await this.withinResponseTimeout(operation(this.client));
    } catch (error) {
      if (error instanceof ErrorReply && !isUnavailableReply(error)) throw error;
      const unavailable = this.unavailable(error);
      // An error reply is Redis refusing the command; a client that was offline never sent it.
      const notRun =
        error instanceof ErrorReply ||
        error instanceof ClientOfflineError ||
        error instanceof ClientClosedError;
      throw notRun ? unavailable : new OutcomeUnknownError(unavailable.message);
    }
  }

  async close(): Promise<void> {
    if (this.current.state === "closed") return;
    this.change({ state: "closed" });
    if (!this.client.isReady) {
      this.client.destroy();
      return;
    }
    // close() waits for replies still due; a server that hung under them gets the response timeout, then destroy.
    await Promise.race([this.client.close(), delay(REDIS_TIMING.responseTimeoutMs)]);
    if (this.client.isOpen) this.client.destroy();
  }

  /**
   * The call's reply, or ReplyOverdueError once the response timeout has passed. The socket's idle timeout
   * alone cannot see a Redis that hangs while calls keep coming: every write counts as traffic. Once a reply
   * is overdue, calls fail at once; with nothing written, the idle timeout then drops the connection and
   * node-redis reconnects, and a late reply (a Redis that was only stopped) makes the store ready again.
   */
  private withinResponseTimeout<T>(call: Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const error = new ReplyOverdueError(this.responseTimeoutMs);
        this.replyOverdue(error);
        reject(error);
      }, this.responseTimeoutMs);
      call.then(
        (value) => {
          clearTimeout(timer);
          this.answered();
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          if (error instanceof ErrorReply) this.answered();
          reject(error);
        },
      );
    });
  }

  private replyOverdue(error: ReplyOverdueError): void {
    if (this.overdue || this.current.state === "closed") return;
    this.overdue = true;
    // Already unavailable for another cause: that cause stays, and calls already fail at once.
    if (this.current.state === "unavailable") return;
    const { summary, detail: cause } = this.describe(error);
    this.loggedCauses.add(cause);
    this.log.warn(
      `Redis at ${this.display} unavailable: ${cause}; calls fail at once until it answers again`,
    );
    this.change({ state: "unavailable", summary, cause, since: Date.now() });
  }

  /** A reply came: a Redis that only stopped for a while answers again. */
  private answered(): void {
    if (!this.overdue) return;
    this.overdue = false;
    if (this.current.state === "unavailable" && this.client.isReady) this.ready();
  }

  private unavailable(error?: unknown): StoreUnavailableError {
    const health = this.current;
    let cause: string;
    if (health.state === "closed") cause = "the store is closed";
    else if (error !== undefined) cause = this.describe(error).detail;
    else if (health.state === "unavailable") cause = health.cause;
    else cause = "no answer yet to the first connection";
    return new StoreUnavailableError(`Redis at ${this.display} unavailable: ${cause}`);
  }

  private describe(error: unknown): Cause {
    return describeCause(error, {
      tls: this.target.tls,
      connectedBefore: this.connectedBefore,
      secret: this.target.password,
    });
  }

  /** Settles at the first change of health (ready, or the first failure), or when it should have come. */
  private firstConnection(): Promise<void> {
    this.firstHealth ??= new Promise((resolve) => {
      const timer = setTimeout(resolve, this.firstConnectionMs);
      timer.unref();
      this.once("health", () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.firstHealth;
  }

  private ready(): void {
    this.overdue = false;
    const previous = this.current;
    this.connectedBefore = true;
    this.loggedCauses.clear();
    if (previous.state === "unavailable") {
      const seconds = ((Date.now() - previous.since) / 1000).toFixed(1);
      this.log.info(`Redis at ${this.display} is back after ${seconds} s`);
    } else {
      this.log.info(`connected to Redis at ${this.display}`);
      void this.checkEvictionPolicy();
    }
    this.change({ state: "ready" });
  }

  /**
   * A Redis that evicts any key when full (maxmemory-policy allkeys-*) may drop pending inbox entries and
   * documents, not only expiring claims: worth one warning. Managed Redis may refuse INFO; then nothing is said.
   */
  private async checkEvictionPolicy(): Promise<void> {
    try {
      const info = String(await this.client.info("memory"));
      const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
      if (policy?.startsWith("allkeys-")) {
        this.log.warn(
          `Redis at ${this.display} has maxmemory-policy ${policy}: when it is full it may evict pending ` +
            "on-confirm events and poll watermarks; use noeviction (or a volatile-* policy)",
        );
      }
    } catch {
      // INFO refused or the connection dropped: the check is advice only.
    }
  }

  private failed(error: unknown): void {
    if (this.current.state === "closed") return;
    const { summary, detail: cause } = this.describe(error);
    // An error that left the connection up (a failed keep-alive PING reply) changes nothing for the callers.
    if (this.client.isReady) {
      this.log.debug(`Redis at ${this.display}: ${cause}`);
      return;
    }
    const previous = this.current;
    if (previous.state !== "unavailable") {
      this.loggedCauses.add(cause);
      this.log.warn(`Redis at ${this.display} unavailable: ${cause}; retrying with backoff until it answers`);
      this.change({ state: "unavailable", summary, cause, since: Date.now() });
      return;
    }
    // A lost connection in an outage already declared says nothing new: the close that follows a protocol
    // error or a refused handshake, or a reset while a killed Redis is still going away. The first cause stays.
    if (error instanceof SocketClosedUnexpectedlyError || isConnectionReset(error)) {
      this.log.debug(`Redis at ${this.display} still unavailable: ${cause}`);
      return;
    }
    if (cause !== previous.cause) this.change({ ...previous, summary, cause });
    if (this.loggedCauses.has(cause)) {
      this.log.debug(`Redis at ${this.display} still unavailable: ${cause}`);
      return;
    }
    // A new cause in the same outage (a lost connection, then refusals while Redis restarts): logged once.
    this.loggedCauses.add(cause);
    this.log.warn(`Redis at ${this.display} still unavailable, now: ${cause}`);
  }

  private change(health: StoreHealth): void {
    this.current = health;
    this.emit("health", health);
  }
}

function definedOnly(options: RedisConnectionOptions): Partial<typeof REDIS_TIMING> {
  const timing: Partial<typeof REDIS_TIMING> = {};
  for (const key of Object.keys(REDIS_TIMING) as (keyof typeof REDIS_TIMING)[]) {
    const value = options[key];
    if (typeof value === "number") timing[key] = value;
  }
  return timing;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function isConnectionReset(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === "ECONNRESET";
}
