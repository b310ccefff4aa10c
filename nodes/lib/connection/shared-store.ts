import type { ConnectionOptions as TlsOptions } from "node:tls";

import type { StoreKind } from "../store/connection-store";
import type { StoreLog } from "../store/redis/connection";
import { redisPrefix } from "../store/redis/keys";
import { createRedisStore, type RedisStore } from "../store/redis/redis-store";
import type { UnavailableStore } from "../store/unavailable-store";
import type { ConnectionCredentials, ConnectionDef } from "./types";

/** settings.js `clarus.redis`: what a flow cannot carry, e.g. a private CA for `rediss://`. */
export interface RedisTuning {
  tls?: TlsOptions;
  /**
   * How long a poll node's lease lasts unless renewed (renewed every third of it while a run lasts): another
   * instance takes over a crashed holder's stream within two of these. Default 30.
   */
  leaseSeconds?: number;
}

/** The lease period of a poll node's runs: another instance takes over within two periods of a crash. */
export const DEFAULT_LEASE_SECONDS = 30;

/** The lease period in ms: `clarus.redis.leaseSeconds` when it is a positive number, else the default. */
export function leaseMsOf(tuning: RedisTuning | undefined): number {
  const seconds = Number(tuning?.leaseSeconds);
  return (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_LEASE_SECONDS) * 1000;
}

/** The connection's `store`: `redis` when set so, else `file`, as every 0.1 flow (it has no `store`) expects. */
export function storeKindOf(def: Pick<ConnectionDef, "store">): StoreKind {
  return String(def.store ?? "").trim() === "redis" ? "redis" : "file";
}

/**
 * The Redis store of a connection with `store: redis` (docs/several-instances.md): `redisUrl` from
 * the credentials, keys under `redisPrefix`, claims for `dedupeHours`, first redeliveries after the delivery's
 * own `redeliverMs` (read once, in delivery/settings.ts, so both wait the same). A bad URL gives a store that
 * refuses every call with the reason; it never throws.
 */
export function sharedRedisStore(
  def: ConnectionDef,
  credentials: ConnectionCredentials,
  options: {
    subdomain: string;
    claimTtlMs: number;
    redeliverMs: number;
    tuning?: RedisTuning;
    log: StoreLog;
  },
): RedisStore | UnavailableStore {
  return createRedisStore({
    redisUrl: credentials.redisUrl,
    prefix: redisPrefix(def.redisPrefix, options.subdomain),
    claimTtlMs: options.claimTtlMs,
    redeliverMs: options.redeliverMs,
    tls: options.tuning?.tls,
    log: options.log,
  });
}
