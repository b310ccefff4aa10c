import type { NodeDef } from "node-red";

import { ConfigError } from "../node-red/errors";

/** The rules a clarus-alert node can watch. */
export const ALERT_RULES = [
  "webhooks-missing",
  "silence",
  "dead-letters",
  "inbox-lag",
  "store-down",
  "api-down",
  "automation-drift",
] as const;
export type AlertRuleName = (typeof ALERT_RULES)[number];

/** Day names in `Date.getDay()` order. */
export const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;

/** A rule as the editor saves it. */
export interface AlertRuleDef {
  rule?: unknown;
  threshold?: unknown;
  minutes?: unknown;
  days?: unknown;
  hours?: unknown;
}

export interface AlertDef extends NodeDef {
  connection: string;
  rules?: unknown;
}

export type AlertRule =
  /** At least `threshold` events in the last `windowMs` that the poll found and no webhook had delivered. */
  | { rule: "webhooks-missing"; threshold: number; windowMs: number }
  /** No event for `quietMs`, counted only on `days` (getDay numbers) between `fromHour` and `toHour`, local time. */
  | { rule: "silence"; quietMs: number; days: ReadonlySet<number>; fromHour: number; toHour: number }
  /** More than `threshold` dead letters. */
  | { rule: "dead-letters"; threshold: number }
  /** The oldest pending inbox event waiting longer than `lagMs` since it was admitted. */
  | { rule: "inbox-lag"; lagMs: number }
  /** The store not ready for `downMs`. */
  | { rule: "store-down"; downMs: number }
  /** No API token obtainable for `downMs`. */
  | { rule: "api-down"; downMs: number }
  /** At least `threshold` registered automations not ok (drifted, missing or failed). */
  | { rule: "automation-drift"; threshold: number };

export const DEFAULT_WEBHOOKS_MISSING_MINUTES = 60;
export const DEFAULT_SILENCE_MINUTES = 30;
export const DEFAULT_STORE_DOWN_MINUTES = 1;
export const DEFAULT_INBOX_LAG_MINUTES = 15;
export const DEFAULT_API_DOWN_MINUTES = 5;
/** The counters keep the last hour; a longer window could not be counted. */
export const MAX_WINDOW_MINUTES = 60;
export const DEFAULT_CHECK_SECONDS = 15;

const MINUTE_MS = 60_000;

/** The node's rules, each checked; the first bad one is a ConfigError naming the rule and the property. */
export function alertRules(def: Pick<AlertDef, "rules">): AlertRule[] {
  const rules = def.rules === undefined || def.rules === null ? [] : def.rules;
  if (!Array.isArray(rules)) throw new ConfigError("rules must be a list");
  if (rules.length === 0) throw new ConfigError("no rule to watch: add one");
  return rules.map((rule: unknown, index) => parseRule(rule, index + 1));
}

function parseRule(value: unknown, position: number): AlertRule {
  if (typeof value !== "object" || value === null) throw new ConfigError(`rule ${position} is not a rule`);
  const def = value as AlertRuleDef;
  const name = String(def.rule ?? "").trim();
  const where = `rule ${position} (${name})`;
  switch (name) {
    case "webhooks-missing":
      return {
        rule: name,
        threshold: wholeNumber(def.threshold, 1, 1, `${where}: threshold`),
        windowMs: minutes(
          def.minutes,
          DEFAULT_WEBHOOKS_MISSING_MINUTES,
          `${where}: minutes`,
          MAX_WINDOW_MINUTES,
        ),
      };
    case "silence": {
      const { fromHour, toHour } = hourRange(def.hours, `${where}: hours`);
      return {
        rule: name,
        quietMs: minutes(def.minutes, DEFAULT_SILENCE_MINUTES, `${where}: minutes`),
        days: daySet(def.days, `${where}: days`),
        fromHour,
        toHour,
      };
    }
    case "dead-letters":
      return { rule: name, threshold: wholeNumber(def.threshold, 0, 0, `${where}: threshold`) };
    case "inbox-lag":
      return { rule: name, lagMs: minutes(def.minutes, DEFAULT_INBOX_LAG_MINUTES, `${where}: minutes`) };
    case "store-down":
      return { rule: name, downMs: minutes(def.minutes, DEFAULT_STORE_DOWN_MINUTES, `${where}: minutes`) };
    case "api-down":
      return { rule: name, downMs: minutes(def.minutes, DEFAULT_API_DOWN_MINUTES, `${where}: minutes`) };
    case "automation-drift":
      return { rule: name, threshold: wholeNumber(def.threshold, 1, 1, `${where}: threshold`) };
    default:
      throw new ConfigError(
        `rule ${position}: ${JSON.stringify(def.rule ?? "")} is not a rule (${ALERT_RULES.join(", ")})`,
      );
  }
}

function blank(value: unknown): boolean {
  return value === undefined || value === null || String(value).trim() === "";
}

function wholeNumber(value: unknown, minimum: number, fallback: number, what: string): number {
  if (blank(value)) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < minimum)
    throw new ConfigError(`${what} ${JSON.stringify(value)} must be a whole number of at least ${minimum}`);
  return number;
}

function minutes(value: unknown, fallback: number, what: string, maximum = Infinity): number {
  if (blank(value)) return fallback * MINUTE_MS;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0 || number > maximum) {
    const range = maximum === Infinity ? "more than 0" : `more than 0 and at most ${maximum}`;
    throw new ConfigError(`${what} ${JSON.stringify(value)} must be a number of minutes, ${range}`);
  }
  return number * MINUTE_MS;
}

/** `["mon", "tue"]`, or one text of names and ranges: "mon-fri", "mon,wed,sat". Blank: every day. */
function daySet(value: unknown, what: string): ReadonlySet<number> {
  if (blank(value) || (Array.isArray(value) && value.length === 0)) return new Set([0, 1, 2, 3, 4, 5, 6]);
  const parts = Array.isArray(value) ? value.map(String) : String(value).split(",");
  const days = new Set<number>();
  for (const part of parts) {
    const [first, last, ...rest] = part.trim().toLowerCase().split("-");
    const from = DAY_NAMES.indexOf(first as (typeof DAY_NAMES)[number]);
    const to = last === undefined ? from : DAY_NAMES.indexOf(last as (typeof DAY_NAMES)[number]);
    if (from < 0 || to < 0 || rest.length > 0)
      throw new ConfigError(
        `${what} ${JSON.stringify(part)} is not a day (mon, tue, … sun, or a range mon-fri)`,
      );
    // A range may run over the weekend: fri-mon.
    for (let day = from; ; day = (day + 1) % 7) {
      days.add(day);
      if (day === to) break;
    }
  }
  return days;
}

/** "06-22": from 06:00 to 22:00 (the end not included). Blank: the whole day. */
function hourRange(value: unknown, what: string): { fromHour: number; toHour: number } {
  if (blank(value)) return { fromHour: 0, toHour: 24 };
  const match = /^\s*(\d{1,2})\s*-\s*(\d{1,2})\s*$/.exec(String(value));
  const fromHour = Number(match?.[1]);
  const toHour = Number(match?.[2]);
  if (!match || fromHour >= toHour || toHour > 24)
    throw new ConfigError(`${what} ${JSON.stringify(value)} must be hours from-to within 00-24, e.g. 06-22`);
  return { fromHour, toHour };
}

/** How often the rules are checked: `clarus.alertCheckSeconds` in settings.js (tests lower it), else 15 s. */
export function checkIntervalMs(tuning: { alertCheckSeconds?: unknown } | undefined): number {
  const seconds = Number(tuning?.alertCheckSeconds);
  return (Number.isFinite(seconds) && seconds > 0 ? seconds : DEFAULT_CHECK_SECONDS) * 1000;
}
