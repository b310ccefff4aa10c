import type { NodeStatus } from "node-red";

import { STATUS } from "../node-red/status";
import type { ConnectionStore, StoreHealth, StoreKind } from "./connection-store";

/** Calls `listener` with the store's health now and at each change. Returns the function that stops listening. */
export function watchHealth(store: ConnectionStore, listener: (health: StoreHealth) => void): () => void {
  const stop = store.onHealth(listener);
  listener(store.health);
  return stop;
}

/**
 * What a node using the store shows while the store cannot answer: red with the cause (an unreachable Redis
 * shows on every node that needs it), blue while it connects; undefined when it is fine and the node shows
 * its own status.
 */
export function storeHealthStatus(kind: StoreKind, health: StoreHealth): NodeStatus | undefined {
  const name = kind === "redis" ? "Redis" : "store";
  if (health.state === "unavailable") return STATUS.failed(`${name}: ${health.summary}`);
  if (health.state === "connecting") return STATUS.working(`${name}: connecting`);
  return undefined;
}

/**
 * The status text of a store that just refused a call: its health's summary when it reports one
 * ("Redis: wrong password"), else a generic one (a file store whose disk refuses writes).
 */
export function describeStoreFailure(store: ConnectionStore): string {
  const health = store.health;
  const reported = health.state === "unavailable" ? storeHealthStatus(store.kind, health) : undefined;
  return reported?.text ?? `${store.kind} store failing`;
}
