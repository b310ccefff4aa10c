import { randomBytes } from "node:crypto";

import type { Lease } from "../connection-store";
import type { RedisConnection } from "./connection";
import { RELEASE_LEASE, RENEW_LEASE } from "./scripts";

/**
 * One holder at a time across instances: `SET key token NX PX ttl` takes it; renew and release run only while
 * the key still holds this holder's random token (compare-and-set / compare-and-delete in Lua). A holder that
 * dies stops renewing; the key expires and the next `acquire` elsewhere gets it.
 */
export async function acquireRedisLease(
  connection: RedisConnection,
  key: string,
  ttlMs: number,
): Promise<Lease | undefined> {
  const token = randomBytes(16).toString("hex");
  const ttl = Math.max(1, Math.round(ttlMs));
  const taken = await connection.run((client) =>
    client.set(key, token, { condition: "NX", expiration: { type: "PX", value: ttl } }),
  );
  if (taken !== "OK") return undefined;
  let held = true;
  return {
    async renew(): Promise<boolean> {
      if (!held) return false;
      const renewed = await connection.run((client) => RENEW_LEASE.run(client, [key], [token, ttl]));
      held = renewed === 1;
      return held;
    },
    async release(): Promise<void> {
      if (!held) return;
      held = false;
      await connection.run((client) => RELEASE_LEASE.run(client, [key], [token]));
    },
  };
}
