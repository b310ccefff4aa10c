import type { Prng } from "./prng";

/**
 * Fault injection on the API, so tests meet the failures a real tenant can give. The exclusive outcomes
 * (5xx, 429, GraphQL errors, partial data, 408) share one uniform draw, so each fires at exactly its
 * configured share even when several are set; slowness and hanging come on top.
 */
export interface FaultOptions {
  /** Share of requests answered 500/502/503 with a non-GraphQL body. */
  error5xx?: number;
  /** Share answered 429 with `Retry-After`. */
  rateLimit?: number;
  /** Seconds in `Retry-After` (default 1). */
  retryAfterSeconds?: number;
  /** Share answered 200 with `errors` and `data: null`. */
  graphqlErrors?: number;
  /** Share answered 200 with `data` in which one record is null, plus an `errors` entry for it. */
  partialData?: number;
  /** Share answered 408 Request Timeout, as a gateway in front of the API does when a request is slow. */
  requestTimeout?: number;
  /** Delay before answering: fixed, or uniform in [min, max]. */
  slowMs?: number | [number, number];
  /** Share of requests delayed by `slowMs` (default 1 when `slowMs` is set). */
  slowRate?: number;
  /** Hold every request unanswered until the faults are cleared (then answered) or the simulator stops. */
  hang?: boolean;
  /** Also apply 5xx, 429, slowness and hanging to `/oauth/token` (default false). */
  applyToToken?: boolean;
  /** One-shot: invalidate every issued token when these faults are set. */
  expireTokens?: boolean;
}

export type FaultKind =
  | "error5xx"
  | "rateLimit"
  | "graphqlErrors"
  | "partialData"
  | "requestTimeout"
  | "slow"
  | "hang"
  | "expireTokens";

export type FaultCounts = Record<FaultKind, number>;

export type FaultOutcome =
  "none" | "error5xx" | "rateLimit" | "graphqlErrors" | "partialData" | "requestTimeout";

export interface FaultDecision {
  outcome: FaultOutcome;
  status5xx: 500 | 502 | 503;
  slowMs: number;
  hang: boolean;
}

export type Endpoint = "graphql" | "token";

export function emptyFaultCounts(): FaultCounts {
  return {
    error5xx: 0,
    rateLimit: 0,
    graphqlErrors: 0,
    partialData: 0,
    requestTimeout: 0,
    slow: 0,
    hang: 0,
    expireTokens: 0,
  };
}

const SHARES = [
  "error5xx",
  "rateLimit",
  "graphqlErrors",
  "partialData",
  "requestTimeout",
  "slowRate",
] as const;

/** Throws on options no test could mean; the HTTP side never sees these errors. */
export function validateFaults(options: FaultOptions): void {
  for (const key of SHARES) {
    const share = options[key];
    if (share !== undefined && !(typeof share === "number" && share >= 0 && share <= 1)) {
      throw new RangeError(`faults.${key} must be a share between 0 and 1`);
    }
  }
  const exclusive =
    (options.error5xx ?? 0) +
    (options.rateLimit ?? 0) +
    (options.graphqlErrors ?? 0) +
    (options.partialData ?? 0) +
    (options.requestTimeout ?? 0);
  if (exclusive > 1 + 1e-9)
    throw new RangeError("error5xx + rateLimit + graphqlErrors + partialData + requestTimeout must be <= 1");
  const retry = options.retryAfterSeconds;
  if (retry !== undefined && !(Number.isFinite(retry) && retry >= 0)) {
    throw new RangeError("faults.retryAfterSeconds must be a non-negative number");
  }
  validateDelay("faults.slowMs", options.slowMs);
}

export function validateDelay(name: string, delay: number | [number, number] | undefined): void {
  if (delay === undefined) return;
  const ok = Array.isArray(delay)
    ? delay.length === 2 && delay.every((d) => Number.isFinite(d) && d >= 0) && delay[0] <= delay[1]
    : Number.isFinite(delay) && delay >= 0;
  if (!ok) throw new RangeError(`${name} must be a non-negative number or [min, max]`);
}

export function drawDelay(prng: Prng, delay: number | [number, number] | undefined): number {
  if (delay === undefined) return 0;
  if (!Array.isArray(delay)) return delay;
  return delay[0] + prng.next() * (delay[1] - delay[0]);
}

export class FaultInjector {
  private options: FaultOptions = {};
  private readonly hangWaiters: Array<(released: boolean) => void> = [];
  private readonly sleepers = new Map<NodeJS.Timeout, (finished: boolean) => void>();
  readonly counts: FaultCounts = emptyFaultCounts();

  constructor(private readonly prng: Prng) {}

  get current(): Readonly<FaultOptions> {
    return this.options;
  }

  get retryAfterSeconds(): number {
    return this.options.retryAfterSeconds ?? 1;
  }

  /** Replaces the active faults (not a merge), so a test states the whole fault picture at once. */
  set(options: FaultOptions): void {
    validateFaults(options);
    this.options = { ...options };
    if (!options.hang) this.releaseHung(true);
  }

  clear(): void {
    this.options = {};
    this.releaseHung(true);
  }

  /** Draws the fate of one request. Always the same number of draws, so a seed replays exactly. */
  decide(endpoint: Endpoint): FaultDecision {
    const outcomeDraw = this.prng.next();
    const statusDraw = this.prng.next();
    const slowDraw = this.prng.next();
    const slowDelayDraw = drawDelay(this.prng, this.options.slowMs);
    const o = this.options;
    const applies = endpoint === "graphql" || o.applyToToken === true;
    if (!applies) return { outcome: "none", status5xx: 500, slowMs: 0, hang: false };

    let outcome: FaultOutcome = "none";
    let edge = 0;
    const bands: Array<[FaultOutcome, number | undefined]> = [
      ["error5xx", o.error5xx],
      ["rateLimit", o.rateLimit],
      ["graphqlErrors", endpoint === "graphql" ? o.graphqlErrors : 0],
      ["partialData", endpoint === "graphql" ? o.partialData : 0],
      // Last, so a seed draws the same outcomes for the other faults as before this one existed.
      ["requestTimeout", o.requestTimeout],
    ];
    for (const [kind, share] of bands) {
      edge += share ?? 0;
      if (outcomeDraw < edge) {
        outcome = kind;
        break;
      }
    }
    const slow = o.slowMs !== undefined && slowDraw < (o.slowRate ?? 1) ? slowDelayDraw : 0;
    const status5xx = statusDraw < 1 / 3 ? 500 : statusDraw < 2 / 3 ? 502 : 503;
    return { outcome, status5xx, slowMs: slow, hang: o.hang === true };
  }

  record(kind: FaultKind): void {
    this.counts[kind]++;
  }

  /** Resolves true when the hang is lifted, false when the simulator stops first. */
  waitWhileHanging(): Promise<boolean> {
    if (!this.options.hang) return Promise.resolve(true);
    return new Promise((resolve) => this.hangWaiters.push(resolve));
  }

  get hungCount(): number {
    return this.hangWaiters.length;
  }

  releaseHung(answer: boolean): void {
    for (const resolve of this.hangWaiters.splice(0)) resolve(answer);
  }

  /** The `slowMs` wait. Resolves false when the simulator stops first, so no timer outlives `stop()`. */
  sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleepers.delete(timer);
        resolve(true);
      }, ms);
      this.sleepers.set(timer, resolve);
    });
  }

  /** Ends every wait: hung and slowed requests resolve false and their sockets are closed by the server. */
  stop(): void {
    this.releaseHung(false);
    for (const [timer, resolve] of this.sleepers) {
      clearTimeout(timer);
      resolve(false);
    }
    this.sleepers.clear();
  }
}
