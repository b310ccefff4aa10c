/**
 * The signal of one API attempt: it aborts at the attempt's deadline (a total one, however slowly the
 * answer trickles in) or when the caller's own signal aborts, whichever comes first.
 */
export class AttemptSignal {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private deadlinePassed = false;

  constructor(
    timeoutMs: number,
    private readonly caller?: AbortSignal,
  ) {
    this.timer = setTimeout(() => {
      this.deadlinePassed = true;
      this.controller.abort(new Error(`no complete answer within ${timeoutMs} ms`));
    }, timeoutMs);
    if (caller?.aborted) this.controller.abort(caller.reason);
    else caller?.addEventListener("abort", this.onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** True when this attempt ended because its deadline passed (not because the caller aborted). */
  get timedOut(): boolean {
    return this.deadlinePassed && !this.caller?.aborted;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.caller?.removeEventListener("abort", this.onCallerAbort);
  }

  private readonly onCallerAbort = () => this.controller.abort(this.caller?.reason);
}

/** `promise`, or the signal's reason as soon as the signal aborts: a caller stops waiting on shared work. */
export function raceSignal<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
