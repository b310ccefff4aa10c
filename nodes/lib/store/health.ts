import type { NodeStatus } from "node-red";

import { STATUS } from "../node-red/status";
import type { ConnectionStore, StoreKind } from "./connection-store";

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

/** A store that reports its health; `onHealth` returns the function that stops listening. */
export interface HealthReporting {
  readonly health: StoreHealth;
  onHealth(listener: (health: StoreHealth) => void): () => void;
}

export function reportsHealth(store: object | undefined): store is HealthReporting {
  return typeof (store as Partial<HealthReporting> | undefined)?.onHealth === "function";
}

/**
 * Calls `listener` with the store's health now and at each change; a store that does not report its health
 * (files) never calls. Returns the function that stops listening.
 */
export function watchHealth(store: object, listener: (health: StoreHealth) => void): () => void {
  if (!reportsHealth(store)) return () => undefined;
  const stop = store.onHealth(listener);
  listener(store.health);
  return stop;
}

/**
 * What a node using the store shows while the store cannot answer (DESIGN.md: Redis unreachable, "the status
 * is red"); undefined when it is fine and the node shows its own status.
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
  const health = reportsHealth(store) ? store.health : undefined;
  const reported =
    health && health.state === "unavailable" ? storeHealthStatus(store.kind, health) : undefined;
  return reported?.text ?? `${store.kind} store failing`;
}
