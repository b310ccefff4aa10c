import type { NodeStatus } from "node-red";

import { STATUS } from "../node-red/status";
import type { StoreKind } from "./connection-store";

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
 * What a node using the store shows while the store cannot answer (DESIGN.md: Redis unreachable, "the status
 * is red"); undefined when it is fine and the node shows its own status.
 */
export function storeHealthStatus(kind: StoreKind, health: StoreHealth): NodeStatus | undefined {
  const name = kind === "redis" ? "Redis" : "store";
  if (health.state === "unavailable") return STATUS.failed(`${name}: ${health.summary}`);
  if (health.state === "connecting") return STATUS.working(`${name}: connecting`);
  return undefined;
}
