import { randomBytes } from "node:crypto";

import { errorMessage } from "../../node-red/errors";
import type { StoreHealth } from "../connection-store";
import { StoreUnavailableError } from "../connection-store";
import { OutcomeUnknownError, type RedisConnection, type StoreLog } from "./connection";
import { CLAIM_OVER, DELETE_OWN_CLAIM } from "./scripts";

export interface RedisClaimsOptions {
  connection: RedisConnection;
  /** `dedupeHours`: how long a claimed key stays claimed (the key's expiry in Redis). */
  claimTtlMs: number;
  log: StoreLog;
}

/** Claims won here that may still be released: a release follows its claim at once, so the latest suffice. */
const MAX_WON = 10_000;
/** Claims whose outcome is unknown, kept until Redis answers again; beyond this the oldest are forgotten. */
const MAX_UNSETTLED = 100_000;
/** Deletions sent to Redis at once when it answers again. */
const SETTLE_BATCH = 100;
/** How long closing waits for the deletions still owed. */
const SETTLE_ON_CLOSE_MS = 1000;
/** Redis refused deletions while connected (loading, read-only for a moment): asked again after this. */
const SETTLE_RETRY_MS = 1000;

/**
 * The dedupe claims of `on-receipt` (`claim`, `release`), so that a 503 always means "not taken". Each claim
 * writes a token that only this process knows. When the connection fails under a claim, Redis may have made
 * it while its caller answers 503 and never sends the event; its token is then remembered, and:
 * - a later claim of the key here that finds one of those tokens takes the key over: Clarus's retry is fresh;
 * - once Redis answers again, the key is deleted if it still holds such a token (compare and delete), so a
 *   retry that lands on another instance is fresh too.
 * A release whose reply is lost is finished the same way. A claim another process made is never touched.
 */
export class RedisClaims {
  private readonly tokenPrefix = randomBytes(6).toString("base64url");
  private tokenCount = 0;
  /** Claim key → token, for the claims this process won lately. */
  private readonly won = new Map<string, string>();
  /** Claim key → tokens of this process that the key may hold although their callers answered 503. */
  private readonly unsettled = new Map<string, { tokens: string[]; since: number }>();
  private settling?: Promise<void>;
  private settleAgain = false;
  private retryTimer?: NodeJS.Timeout;
  private closed = false;
  private warnedForgotten = false;
  private readonly onHealth = (health: StoreHealth) => {
    if (health.state === "ready") this.settleSoon();
  };

  constructor(private readonly options: RedisClaimsOptions) {
    options.connection.on("health", this.onHealth);
  }

  /** Claims `claimKey` for the claim TTL: true when this call made the claim. */
  async claim(claimKey: string): Promise<boolean> {
    const token = `${this.tokenPrefix}.${(this.tokenCount++).toString(36)}`;
    const ttl = this.ttlMs;
    const earlier = this.unsettled.get(claimKey)?.tokens ?? [];
    let claimed: boolean;
    try {
      claimed = await this.options.connection.run(async (client) =>
        earlier.length === 0
          ? (await client.set(claimKey, token, {
              condition: "NX",
              expiration: { type: "PX", value: ttl },
            })) === "OK"
          : (await CLAIM_OVER.run(client, [claimKey], [token, ttl, ...earlier])) === 1,
      );
    } catch (error) {
      if (error instanceof OutcomeUnknownError) this.unsettle(claimKey, token);
      throw error;
    }
    // Redis answered: whether it took the key over or not, the key no longer holds those tokens.
    if (earlier.length > 0) this.settled(claimKey, earlier);
    if (claimed) this.remember(claimKey, token);
    return claimed;
  }

  /** Deletes the claim this process made of `claimKey`; a claim that is not its own stays. */
  async release(claimKey: string): Promise<void> {
    const token = this.won.get(claimKey);
    if (token === undefined) return;
    this.won.delete(claimKey);
    try {
      await this.options.connection.run((client) => DELETE_OWN_CLAIM.run(client, [claimKey], [token]));
    } catch (error) {
      // Not deleted, or not known to be: deleted once Redis answers again.
      if (error instanceof StoreUnavailableError) this.unsettle(claimKey, token);
      throw error;
    }
  }

  /** Stops listening; owes Redis what it can delete within a second. */
  async close(): Promise<void> {
    this.closed = true;
    this.options.connection.off("health", this.onHealth);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.unsettled.size === 0) return;
    await Promise.race([this.settle(), delay(SETTLE_ON_CLOSE_MS)]);
  }

  /** How many claims wait for Redis to answer again; for tests. */
  get unsettledCount(): number {
    return this.unsettled.size;
  }

  private get ttlMs(): number {
    return Math.max(1, Math.round(this.options.claimTtlMs));
  }

  private remember(claimKey: string, token: string): void {
    this.won.delete(claimKey);
    this.won.set(claimKey, token);
    if (this.won.size > MAX_WON) this.won.delete(this.won.keys().next().value as string);
  }

  private unsettle(claimKey: string, token: string): void {
    const known = this.unsettled.get(claimKey);
    if (known) known.tokens.push(token);
    else this.unsettled.set(claimKey, { tokens: [token], since: Date.now() });
    if (this.unsettled.size > MAX_UNSETTLED) {
      this.unsettled.delete(this.unsettled.keys().next().value as string);
      if (!this.warnedForgotten) {
        this.warnedForgotten = true;
        this.options.log.warn(
          `more than ${MAX_UNSETTLED} claims without a reply from Redis: the oldest are forgotten, ` +
            "and Clarus's retries of those events will be taken for duplicates",
        );
      }
    }
    this.settleSoon();
  }

  private settled(claimKey: string, tokens: string[]): void {
    const known = this.unsettled.get(claimKey);
    if (!known) return;
    known.tokens = known.tokens.filter((token) => !tokens.includes(token));
    if (known.tokens.length === 0) this.unsettled.delete(claimKey);
  }

  private settleSoon(): void {
    if (this.closed || this.unsettled.size === 0) return;
    if (this.settling) {
      this.settleAgain = true;
      return;
    }
    this.settling = this.settle().then((refused) => {
      this.settling = undefined;
      if (this.settleAgain) {
        this.settleAgain = false;
        this.settleSoon();
      } else if (refused && this.options.connection.health.state === "ready" && !this.retryTimer) {
        // Refused although connected: no reconnection will come to ask again.
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.settleSoon();
        }, SETTLE_RETRY_MS);
        this.retryTimer.unref();
      }
    });
  }

  /**
   * Deletes every unsettled key that still holds one of its tokens; stops at the first call Redis refuses,
   * and says so (true).
   */
  private async settle(): Promise<boolean> {
    const expired = Date.now() - this.ttlMs;
    for (const [claimKey, { since }] of this.unsettled) {
      // The claim has expired in Redis by now.
      if (since < expired) this.unsettled.delete(claimKey);
    }
    let deleted = 0;
    let refused = false;
    const pending = [...this.unsettled].map(([claimKey, { tokens }]) => ({ claimKey, tokens: [...tokens] }));
    for (let start = 0; start < pending.length; start += SETTLE_BATCH) {
      const batch = pending.slice(start, start + SETTLE_BATCH);
      const results = await Promise.allSettled(
        batch.map(({ claimKey, tokens }) =>
          this.options.connection.run((client) => DELETE_OWN_CLAIM.run(client, [claimKey], tokens)),
        ),
      );
      let fault: unknown;
      results.forEach((result, index) => {
        const { claimKey, tokens } = batch[index];
        if (result.status === "fulfilled") {
          if (result.value === 1) deleted++;
          this.settled(claimKey, tokens);
          return;
        }
        // Kept for the next try either way: until the claim expires, a retry would be taken for a duplicate.
        refused = true;
        if (!(result.reason instanceof StoreUnavailableError)) fault = result.reason;
      });
      if (fault !== undefined) {
        this.options.log.warn(
          `claims without a reply from Redis could not be deleted yet: ${errorMessage(fault)}`,
        );
      }
      // Redis is away again: the rest waits for it to answer.
      if (refused) break;
    }
    if (deleted > 0) {
      this.options.log.info(
        `deleted ${deleted} claim(s) that Redis made when its reply was lost: Clarus's retries of those ` +
          "events are taken as new",
      );
    }
    return refused;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
