import type { StoreHealth } from "../store/connection-store";

/** One part of a connection (its store, its API access): ok or not, its state, and why when it is not ok. */
export interface PartHealth {
  ok: boolean;
  state: string;
  /** Why it is not ok, in a sentence; it may name a host, never a secret. */
  cause?: string;
}

/** A poll node of the connection: ok unless its runs have been failing for three of its intervals or more. */
export interface PollHealth {
  node: string;
  stream: string;
  ok: boolean;
  /** When the first failed run since the last success started (ISO 8601), while its runs fail. */
  failingSince?: string;
}

/** What the health endpoint reports of one connection. */
export interface ConnectionHealth {
  id: string;
  name: string;
  ok: boolean;
  store: PartHealth;
  api: PartHealth;
  polls: PollHealth[];
}

/** The store's last known health as a part: only "ready" is ok; a store still connecting is not, yet. */
export function storePartHealth(health: StoreHealth): PartHealth {
  switch (health.state) {
    case "ready":
      return { ok: true, state: "ready" };
    case "connecting":
      return { ok: false, state: "connecting", cause: "no answer yet to the first connection" };
    case "unavailable":
      return { ok: false, state: "unavailable", cause: health.cause };
    case "closed":
      return { ok: false, state: "closed", cause: "the store is closed" };
  }
}

/**
 * The report of one connection, every cause with `secrets` blanked out: the causes come from the store and the
 * API, which keep secrets out already; this is the last guard before an HTTP answer.
 */
export function connectionHealth(
  connection: { id: string; name: string },
  parts: { store: PartHealth; api: PartHealth; polls: PollHealth[] },
  secrets: readonly string[],
): ConnectionHealth {
  const store = blanked(parts.store, secrets);
  const api = blanked(parts.api, secrets);
  const ok = store.ok && api.ok && parts.polls.every((poll) => poll.ok);
  return { id: connection.id, name: connection.name, ok, store, api, polls: parts.polls };
}

function blanked(part: PartHealth, secrets: readonly string[]): PartHealth {
  if (part.cause === undefined) return part;
  let cause = part.cause;
  // A very short secret would blank ordinary words; neither the store nor the API quotes one anyway.
  for (const secret of secrets) if (secret.length >= 4) cause = cause.split(secret).join("***");
  return { ...part, cause };
}
