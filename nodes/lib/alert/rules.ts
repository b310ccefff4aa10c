import type { PartHealth } from "../connection/health";
import type { AutomationState, CountersSnapshot } from "../metrics/counters";
import type { StoreHealth } from "../store/connection-store";
import { type AlertRule, DAY_NAMES } from "./settings";

const MINUTE_MS = 60_000;

/** A poll-only total the alerter noted at one check. */
export interface PollOnlySample {
  at: number;
  total: number;
}

/** What one check sees of a connection; everything a rule needs, so a rule is a pure function of it. */
export interface Observation {
  now: number;
  counters: Pick<CountersSnapshot, "pollOnly" | "perMinute" | "lastEventAt">;
  /** Poll-only totals of earlier checks, oldest first. */
  pollOnlyHistory: readonly PollOnlySample[];
  /** When this node started watching: silence is counted from here at the earliest. */
  watchingSince: number;
  /** Dead letters in the inbox; undefined when the store did not answer in time. */
  deadLetters?: number;
  store: { kind: string; health: StoreHealth; notReadySince?: number };
  /** How long the oldest pending event has waited (ms; null: none pending); undefined when the store did not say. */
  oldestPendingMs?: number | null;
  /** The API token as the last check found it, and since when none could be obtained. */
  api?: { health: PartHealth; failingSince?: number };
  /** Registered automations by state. */
  automations?: Readonly<Record<AutomationState, number>>;
}

/** Whether a rule holds (undefined: cannot tell this time, keep the state it has), and why, in a sentence. */
export interface Verdict {
  holds: boolean | undefined;
  detail: string;
}

export function evaluateRule(rule: AlertRule, seen: Observation): Verdict {
  switch (rule.rule) {
    case "webhooks-missing":
      return webhooksMissing(rule, seen);
    case "silence":
      return silence(rule, seen);
    case "dead-letters":
      return deadLetters(rule, seen);
    case "inbox-lag":
      return inboxLag(rule, seen);
    case "store-down":
      return storeDown(rule, seen);
    case "api-down":
      return apiDown(rule, seen);
    case "automation-drift":
      return automationDrift(rule, seen);
  }
}

/** Every poll-only event the counters hold, since the process started. */
export function pollOnlyTotal(counters: Pick<CountersSnapshot, "pollOnly">): number {
  let total = 0;
  for (const n of counters.pollOnly.values()) total += n;
  return total;
}

/**
 * Poll-only events in the `windowMs` before `now`: exactly, from the total of the newest check at or before the
 * window's start; before this node has watched that long, from the counters' minute figures (the minutes that
 * overlap the window, so a few events just older than the window may count).
 */
export function pollOnlyWithin(windowMs: number, seen: Observation): number {
  const start = seen.now - windowMs;
  let base: PollOnlySample | undefined;
  for (const sample of seen.pollOnlyHistory) {
    if (sample.at > start) break;
    base = sample;
  }
  if (base) return pollOnlyTotal(seen.counters) - base.total;
  return seen.counters.perMinute
    .filter((minute) => minute.at + MINUTE_MS > start)
    .reduce((sum, minute) => sum + minute.pollOnly, 0);
}

function webhooksMissing(rule: Extract<AlertRule, { rule: "webhooks-missing" }>, seen: Observation): Verdict {
  const count = pollOnlyWithin(rule.windowMs, seen);
  const window = minutesText(rule.windowMs);
  return {
    holds: count >= rule.threshold,
    detail:
      `The poll found ${count} ${count === 1 ? "event" : "events"} in the last ${window} that no webhook ` +
      `delivered (alert at ${rule.threshold}).`,
  };
}

function silence(rule: Extract<AlertRule, { rule: "silence" }>, seen: Observation): Verdict {
  const local = new Date(seen.now);
  const hour = local.getHours();
  if (!rule.days.has(local.getDay()) || hour < rule.fromHour || hour >= rule.toHour) {
    return { holds: false, detail: `Outside the watched hours (${watchedText(rule)}).` };
  }
  // The watched hours of today begin the count: a quiet night or weekend does not fire at their first minute.
  const windowStart = new Date(
    local.getFullYear(),
    local.getMonth(),
    local.getDate(),
    rule.fromHour,
  ).getTime();
  const sources = Object.values(seen.counters.lastEventAt).filter((at): at is number => at !== undefined);
  const lastEvent = sources.length > 0 ? Math.max(...sources) : undefined;
  const quietSince = Math.max(lastEvent ?? -Infinity, seen.watchingSince, windowStart);
  const quietMs = seen.now - quietSince;
  const last = lastEvent === undefined ? "none since Node-RED started" : `the last at ${iso(lastEvent)}`;
  return {
    holds: quietMs >= rule.quietMs,
    detail: `No event for ${minutesText(quietMs)} (alert at ${minutesText(rule.quietMs)}; ${last}).`,
  };
}

function deadLetters(rule: Extract<AlertRule, { rule: "dead-letters" }>, seen: Observation): Verdict {
  if (seen.deadLetters === undefined)
    return { holds: undefined, detail: "The store did not say how many dead letters it holds." };
  const count = seen.deadLetters;
  return {
    holds: count > rule.threshold,
    detail: `${count} dead ${count === 1 ? "letter" : "letters"} in the inbox (alert above ${rule.threshold}).`,
  };
}

function storeDown(rule: Extract<AlertRule, { rule: "store-down" }>, seen: Observation): Verdict {
  const { kind, health, notReadySince } = seen.store;
  if (health.state === "ready" || notReadySince === undefined)
    return { holds: false, detail: `The ${kind} store is ready.` };
  const downMs = seen.now - notReadySince;
  const cause = health.state === "unavailable" ? `: ${health.summary}` : ` (${health.state})`;
  return {
    holds: downMs >= rule.downMs,
    detail: `The ${kind} store has not been ready for ${minutesText(downMs)}${cause}.`,
  };
}

function inboxLag(rule: Extract<AlertRule, { rule: "inbox-lag" }>, seen: Observation): Verdict {
  if (seen.oldestPendingMs === undefined)
    return {
      holds: undefined,
      detail: "The store did not say how long its oldest pending event has waited.",
    };
  if (seen.oldestPendingMs === null)
    return { holds: false, detail: "No event is waiting in the inbox for a confirm." };
  const waited = seen.oldestPendingMs;
  return {
    holds: waited >= rule.lagMs,
    detail:
      `The oldest pending event has waited ${minutesText(waited)} for a confirm ` +
      `(alert at ${minutesText(rule.lagMs)}).`,
  };
}

function apiDown(rule: Extract<AlertRule, { rule: "api-down" }>, seen: Observation): Verdict {
  const api = seen.api;
  if (!api) return { holds: undefined, detail: "The API token was not checked." };
  const { health, failingSince } = api;
  if (health.state === "not-configured")
    return { holds: false, detail: "The connection has no API credentials: no token to obtain." };
  if (health.ok) return { holds: false, detail: "An API token can be obtained." };
  // No answer yet from the token endpoint: too early to tell a slow one from a dead one.
  if (failingSince === undefined)
    return { holds: undefined, detail: `No API token yet: ${health.cause ?? health.state}.` };
  const downMs = seen.now - failingSince;
  return {
    holds: downMs >= rule.downMs,
    detail: `No API token could be obtained for ${minutesText(downMs)}: ${health.cause ?? health.state}.`,
  };
}

function automationDrift(rule: Extract<AlertRule, { rule: "automation-drift" }>, seen: Observation): Verdict {
  const counts = seen.automations;
  if (!counts) return { holds: undefined, detail: "The registered automations were not read." };
  const notOk = counts.drifted + counts.missing + counts.failed;
  const parts = (["drifted", "missing", "failed"] as const)
    .filter((state) => counts[state] > 0)
    .map((state) => `${counts[state]} ${state}`);
  const what = parts.length > 0 ? ` (${parts.join(", ")})` : "";
  return {
    holds: notOk >= rule.threshold,
    detail:
      `${notOk} of ${notOk + counts.ok} registered ${notOk + counts.ok === 1 ? "automation" : "automations"} ` +
      `not as registered${what} (alert at ${rule.threshold}).`,
  };
}

/** "45 minutes", "1 minute", "3 seconds": what a person reads in a mail. */
export function minutesText(ms: number): string {
  if (ms < MINUTE_MS) {
    const seconds = Math.round(ms / 1000);
    return `${seconds} ${seconds === 1 ? "second" : "seconds"}`;
  }
  const minutes = Math.round(ms / MINUTE_MS);
  return `${minutes} ${minutes === 1 ? "minute" : "minutes"}`;
}

function watchedText(rule: Extract<AlertRule, { rule: "silence" }>): string {
  const days = DAY_NAMES.filter((_name, day) => rule.days.has(day)).join(",");
  const hours = `${String(rule.fromHour).padStart(2, "0")}-${String(rule.toHour).padStart(2, "0")}`;
  return rule.days.size === 7 ? hours : `${days} ${hours}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
