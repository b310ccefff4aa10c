/**
 * How a store's backend is doing, for logs and node status: a Redis that is away, a store that could not be
 * built from its configuration. Nodes show it; a call made while it is not "ready" rejects with
 * StoreUnavailableError.
 */
export type StoreHealth =
  | { state: "connecting" }
  | { state: "ready" }
  | { state: "unavailable"; cause: string; since: number }
  | { state: "closed" };

/** A store that reports its health; `onHealth` returns the function that stops listening. */
export interface HealthReporting {
  readonly health: StoreHealth;
  onHealth(listener: (health: StoreHealth) => void): () => void;
}
