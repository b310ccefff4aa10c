import type { Node, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";

import { normalisedFields } from "../events/normalise";
import { InvalidRecordError, validateEventRecord } from "../events/record-schemas";
import { EVENT, isKnownEvent, UNKNOWN_EVENT } from "../events/vocabulary";
import { isPlainObject } from "../json";
import { ConfigError, errorMessage } from "../node-red/errors";
import { flag } from "../node-red/properties";
import { STATUS, ThrottledStatus } from "../node-red/status";

/** Properties every filter node has, whatever events it matches. */
export interface FilterDef extends NodeDef {
  /** Send the messages that do not match on a second output instead of dropping them. */
  otherOutput?: boolean | string;
}

export interface StockAdjustmentDef extends FilterDef {
  direction?: "positive" | "negative" | "both";
}

export interface StockHoldDef extends FilterDef {
  change?: "placed" | "released" | "both";
}

export interface EventListDef extends FilterDef {
  /** An array of event ids; a comma-separated string is accepted too. Empty: every event. */
  events?: string[] | string;
  /** Comma-separated Clarus automation ids; empty: any. */
  automationIds?: string | string[];
}

/** What a filter node lets through to its first output. */
export interface FilterRule {
  /** Event ids that match; undefined matches every event. */
  events?: ReadonlySet<string>;
  /** Automation ids (`msg.clarus.automationId`) that match; undefined matches any, and none. */
  automationIds?: ReadonlySet<string>;
}

export const salesOrderDispatchedRule = (): FilterRule => ({ events: new Set([EVENT.salesOrderDispatched]) });

export const goodsInCompletedRule = (): FilterRule => ({ events: new Set([EVENT.goodsInCompleted]) });

export function stockAdjustmentRule(def: StockAdjustmentDef): FilterRule {
  return {
    events: eventsForChoice("direction", def.direction, {
      positive: EVENT.stockPositivelyAdjusted,
      negative: EVENT.stockNegativelyAdjusted,
    }),
  };
}

export function stockHoldRule(def: StockHoldDef): FilterRule {
  return {
    events: eventsForChoice("change", def.change, {
      placed: EVENT.stockPlacedOnHold,
      released: EVENT.stockReleasedFromHold,
    }),
  };
}

export function eventListRule(def: EventListDef): FilterRule {
  const events = listOf(def.events);
  const automationIds = listOf(def.automationIds);
  return {
    events: events.length > 0 ? new Set(events) : undefined,
    automationIds: automationIds.length > 0 ? new Set(automationIds) : undefined,
  };
}

/** `both` (the default) or one of the named choices; anything else is a configuration error. */
function eventsForChoice(
  property: string,
  value: string | undefined,
  choices: Readonly<Record<string, string>>,
): ReadonlySet<string> {
  if (value === undefined || value === "" || value === "both") return new Set(Object.values(choices));
  const event = Object.hasOwn(choices, value) ? choices[value] : undefined;
  if (event === undefined) {
    const allowed = [...Object.keys(choices), "both"].join(", ");
    throw new ConfigError(`${property} must be one of ${allowed}, not ${JSON.stringify(value)}`);
  }
  return new Set([event]);
}

function listOf(value: unknown): string[] {
  const items = Array.isArray(value) ? value : typeof value === "string" ? value.split(",") : [];
  return items.map((item) => String(item).trim()).filter((item) => item !== "");
}

interface Counts {
  matched: number;
  other: number;
  invalid: number;
}

type Send = (msg: NodeMessage | Array<NodeMessage | NodeMessage[] | null>) => void;
type Done = (err?: Error) => void;

/**
 * The behaviour of every clarus filter node: match on the event, validate the record of a match, add
 * the normalised fields under `msg.clarus`, route; the node entries only choose the rule.
 */
export class EventFilter {
  private readonly counts: Counts = { matched: 0, other: 0, invalid: 0 };
  private readonly status: ThrottledStatus;

  constructor(
    node: Pick<Node, "status">,
    private readonly rule: FilterRule,
    private readonly otherOutput: boolean,
  ) {
    this.status = new ThrottledStatus(node);
  }

  handle(msg: NodeMessageInFlow, send: Send, done: Done): void {
    const event = this.matchingEvent(msg);
    if (event === undefined) {
      this.count("other");
      if (this.otherOutput) send([null, msg]);
      done();
      return;
    }
    const validation = validateEventRecord(event, msg.payload);
    if (!validation.ok) {
      this.count("invalid");
      done(new InvalidRecordError(event, validation.issues));
      return;
    }
    // matchingEvent returned an event, so msg.clarus is an object; msg.payload stays as it came.
    Object.assign(msg.clarus as object, normalisedFields(event, validation.record));
    this.count("matched");
    send(this.otherOutput ? [msg, null] : msg);
    done();
  }

  close(): void {
    this.status.stop();
  }

  /** The message's event when it matches the rule. Only messages from a clarus source (msg.clarus) can. */
  private matchingEvent(msg: NodeMessageInFlow): string | undefined {
    const clarus = msg.clarus;
    if (!isPlainObject(clarus)) return undefined;
    const event = nonEmpty(clarus.event) ?? nonEmpty(msg.topic);
    if (event === undefined) return undefined;
    if (this.rule.events && !this.rule.events.has(event)) return undefined;
    if (this.rule.automationIds) {
      const automationId = clarus.automationId;
      const known = typeof automationId === "string" || typeof automationId === "number";
      if (!known || !this.rule.automationIds.has(String(automationId))) return undefined;
    }
    return event;
  }

  private count(kind: keyof Counts): void {
    this.counts[kind]++;
    const { matched, other, invalid } = this.counts;
    const parts = [`${matched} matched`];
    if (other > 0) parts.push(`${other} other`);
    if (invalid > 0) parts.push(`${invalid} invalid`);
    const text = parts.join(", ");
    this.status.set(invalid > 0 ? STATUS.warning(text) : STATUS.ok(text));
  }
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * Wires a filter node: builds its rule from the node's properties and handles `input` and `close`. A
 * property the node cannot run with is logged at deploy, shown in the status, and fails every message
 * with `done(err)`, so nothing vanishes silently.
 */
export function attachEventFilter<TDef extends FilterDef>(
  node: Node,
  def: TDef,
  ruleOf: (def: TDef) => FilterRule,
): void {
  let filter: EventFilter | undefined;
  let configError: Error | undefined;
  try {
    const rule = ruleOf(def);
    warnAboutUnknownEvents(node, rule);
    filter = new EventFilter(node, rule, flag(def.otherOutput, false));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    configError = error;
    node.error(`not filtering: ${errorMessage(error)}`);
    node.status(STATUS.failed("invalid configuration"));
  }
  node.on("input", (msg, send, done) => {
    if (!filter) return done(configError);
    try {
      filter.handle(msg, send, done);
    } catch (error) {
      done(error instanceof Error ? error : new Error(String(error)));
    }
  });
  node.on("close", (done: () => void) => {
    filter?.close();
    done();
  });
}

/** An event outside the Clarus vocabulary never arrives from a clarus source; likely a typo. */
function warnAboutUnknownEvents(node: Node, rule: FilterRule): void {
  const unknown = [...(rule.events ?? [])].filter((event) => event !== UNKNOWN_EVENT && !isKnownEvent(event));
  if (unknown.length > 0) node.warn(`not a known Clarus event: ${unknown.join(", ")}`);
}
