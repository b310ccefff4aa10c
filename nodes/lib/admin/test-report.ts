import type { ObservedWebhook } from "../connection/observed-identity";

/** Why the first request failed, as `testConnection` tells it apart: what the user has to change differs. */
export type FailureCause =
  "api-url" | "no-subdomain" | "no-credentials" | "credentials" | "unreachable" | "tls" | "timeout" | "other";

export interface TestProblem {
  /** What does not work, in a user's words. */
  problem: string;
  /** What to do about it. */
  todo: string;
}

/**
 * The Test connection report in plain words, for the top of the dialog: one headline, what works, what does not
 * and what to do. The technical steps (`TestReport` itself) stay behind the dialog's Details toggle.
 */
export interface TestSummary {
  ok: boolean;
  headline: string;
  works: string[];
  problems: TestProblem[];
}

export interface TestStep {
  ok: boolean;
  text: string;
  /** Why the first request failed, for the plain summary. */
  cause?: FailureCause;
}

/**
 * The answer of the Test connection button: each step that worked or why not, so a user sees before
 * deploying whether the tenant's schema lets every built-in stream read.
 */
export interface TestReport {
  ok: boolean;
  token: TestStep;
  subdomain?: TestStep;
  schema?: TestStep;
  streams?: Array<TestStep & { stream: string }>;
  automations?: TestStep & { found: Array<{ id: string; event: string }> };
  /** What the deployed connection's webhook-in nodes last saw Clarus send; absent without such nodes. */
  webhooks?: TestStep & { seen: ObservedWebhook[] };
  /** The report in plain words: what works, what does not, what to do (the dialog shows it first). */
  summary?: TestSummary;
}
