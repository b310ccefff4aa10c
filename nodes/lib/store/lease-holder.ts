import { errorMessage } from "../node-red/errors";
import type { ConnectionStore } from "./connection-store";

/** The lease was lost while its work ran (a renewal found another holder, or could not reach the store). */
export class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

/**
 * Runs `work` while holding the lease `name` of `store` (one holder across instances: a poll node's run,
 * webhook registration). Undefined, without running it, when another holder has the lease. While the work
 * runs the lease is renewed every third of `ttlMs`; when a renewal finds it lost or cannot reach the store,
 * the work's signal aborts with a LeaseLostError, so it stops before another holder's work could overlap
 * it. Released at the end, whatever the outcome; `parent` aborting aborts the work too.
 *
 * Rejects only when the lease cannot be asked for (a StoreUnavailableError); the work's own rejection is
 * passed on.
 */
export async function whileHolding<T>(
  store: Pick<ConnectionStore, "acquireLease">,
  name: string,
  ttlMs: number,
  work: (signal: AbortSignal) => Promise<T>,
  parent?: AbortSignal,
): Promise<{ value: T } | undefined> {
  const lease = await store.acquireLease(name, ttlMs);
  if (!lease) return undefined;
  const controller = new AbortController();
  const onParentAbort = () => controller.abort(parent?.reason);
  if (parent?.aborted) onParentAbort();
  else parent?.addEventListener("abort", onParentAbort, { once: true });
  const lost = (reason: string) => {
    if (!controller.signal.aborted) controller.abort(new LeaseLostError(`lease ${name} lost: ${reason}`));
  };
  const renewal = setInterval(
    () => {
      lease.renew().then(
        (held) => {
          if (!held) lost("another holder has it now");
        },
        (error: unknown) => lost(`it could not be renewed (${errorMessage(error)})`),
      );
    },
    Math.max(10, Math.floor(ttlMs / 3)),
  );
  try {
    return { value: await work(controller.signal) };
  } finally {
    clearInterval(renewal);
    parent?.removeEventListener("abort", onParentAbort);
    // Not released (the store is away): it expires by itself within ttlMs.
    await lease.release().catch(() => undefined);
  }
}
