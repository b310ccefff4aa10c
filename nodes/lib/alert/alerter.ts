import type { Node, NodeMessage } from "node-red";

import type { ConnectionServices } from "../connection/services";
import { withinDeadline } from "../deadline";
import { STATUS } from "../node-red/status";
import { evaluateRule, type Observation, type PollOnlySample, pollOnlyTotal } from "./rules";
import type { AlertRule, AlertRuleName } from "./settings";

/** A dead-letter count that takes longer is left out of that check, so a hanging Redis never blocks one. */
const INBOX_DEADLINE_MS = 2000;

export type AlertState = "firing" | "resolved";

export interface AlertPayload {
  rule: AlertRuleName;
  state: AlertState;
  /** The connection node's name, else its id. */
  connection: string;
  detail: string;
  /** When this state began (ISO 8601). */
  since: string;
}

/** The token check waits at most this for the token endpoint; past it the last known answer stands. */
const API_WAIT_MS = 1000;

type Watched = Pick<ConnectionServices, "metricsLabel" | "counters" | "store"> &
  Partial<Pick<ConnectionServices, "apiHealth" | "apiFailingSince" | "automationStates">>;

/**
 * Checks a connection against the node's rules at start and on a timer, and sends one message when a rule
 * starts to hold and one when it stops: state changes only, never a message per check. State is in memory, so
 * a redeploy checks afresh (a rule that holds fires again once).
 */
export class Alerter {
  private readonly firing: { holds: boolean; since: number }[];
  private readonly pollOnlyHistory: PollOnlySample[] = [];
  private readonly watchingSince: number;
  private readonly longestWindowMs: number;
  private notReadySince?: number;
  private timer?: NodeJS.Timeout;
  private checking = false;
  private closed = false;
  private shownStatus?: string;

  constructor(
    private readonly node: Pick<Node, "send" | "status" | "error">,
    private readonly watched: Watched,
    private readonly rules: readonly AlertRule[],
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.firing = rules.map(() => ({ holds: false, since: now() }));
    this.watchingSince = now();
    this.longestWindowMs = Math.max(0, ...rules.map((r) => (r.rule === "webhooks-missing" ? r.windowMs : 0)));
  }

  start(): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One check of every rule; a check still waiting for the store makes the next one wait its turn. */
  async check(): Promise<void> {
    if (this.checking || this.closed) return;
    this.checking = true;
    try {
      const store = this.watched.store;
      const health = store.health;
      if (health.state === "ready") this.notReadySince = undefined;
      else this.notReadySince ??= health.state === "unavailable" ? health.since : this.now();
      const watches = (name: AlertRuleName) => this.rules.some((rule) => rule.rule === name);
      const [inbox, api] = await Promise.all([
        watches("dead-letters") || watches("inbox-lag")
          ? withinDeadline(store.inboxState(), INBOX_DEADLINE_MS)
          : undefined,
        watches("api-down") && this.watched.apiHealth
          ? this.watched.apiHealth(API_WAIT_MS).catch(() => undefined)
          : undefined,
      ]);
      if (this.closed) return;
      const now = this.now();
      const counters = this.watched.counters.snapshot();
      const seen: Observation = {
        now,
        counters,
        pollOnlyHistory: this.pollOnlyHistory,
        watchingSince: this.watchingSince,
        deadLetters: inbox?.dead,
        store: { kind: store.kind, health, notReadySince: this.notReadySince },
        // null: none pending, told apart from undefined, no answer in time.
        oldestPendingMs: inbox && (inbox.oldestPendingMs ?? null),
        api: api && { health: api, failingSince: this.watched.apiFailingSince },
        automations: this.watched.automationStates?.counts(),
      };
      const messages: NodeMessage[] = [];
      this.rules.forEach((rule, index) => {
        const verdict = evaluateRule(rule, seen);
        const state = this.firing[index]!;
        if (verdict.holds === undefined || verdict.holds === state.holds) return;
        state.holds = verdict.holds;
        state.since = now;
        messages.push(this.message(rule.rule, verdict.holds ? "firing" : "resolved", verdict.detail, now));
      });
      this.remember({ at: now, total: pollOnlyTotal(counters) });
      for (const msg of messages) this.node.send(msg);
      this.showStatus();
    } catch (error) {
      // A check that fails (a counter snapshot, a store that throws) tries again at the next tick.
      this.node.error(`alert check failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      this.checking = false;
    }
  }

  private message(rule: AlertRuleName, state: AlertState, detail: string, now: number): NodeMessage {
    const payload: AlertPayload = {
      rule,
      state,
      connection: this.watched.metricsLabel,
      detail,
      since: new Date(now).toISOString(),
    };
    return { topic: rule, payload };
  }

  /** Keeps the totals the longest window needs: those inside it and the newest one before it. */
  private remember(sample: PollOnlySample): void {
    const history = this.pollOnlyHistory;
    history.push(sample);
    const start = sample.at - this.longestWindowMs;
    while (history.length > 1 && history[1]!.at <= start) history.shift();
  }

  private showStatus(): void {
    const names = this.rules.filter((_rule, index) => this.firing[index]!.holds).map((rule) => rule.rule);
    const text = names.length === 0 ? "ok" : `firing: ${[...new Set(names)].join(", ")}`;
    // Only a change: an unchanged status every check would reach every Status node in the flow.
    if (text === this.shownStatus) return;
    this.shownStatus = text;
    this.node.status(names.length === 0 ? STATUS.ok(text) : STATUS.failed(text));
  }
}
