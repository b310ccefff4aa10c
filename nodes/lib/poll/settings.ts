import type { NodeDef } from "node-red";

import { isKnownEvent } from "../events/vocabulary";
import { ConfigError } from "../node-red/errors";
import { flag } from "../node-red/properties";
import { customStream, type PollStream, STOCK_TRANSACTIONS } from "./streams";
import { subtypeEvents } from "./subtypes";

/** The poll node's properties as the editor saves them, and their parsing into the settings a Poller runs on. */

export interface PollDef extends NodeDef {
  connection: string;
  stream: string;
  query?: string;
  event?: string;
  intervalMinutes?: number | string;
  lookbackMinutes?: number | string;
  pageSize?: number | string;
  maxPages?: number | string;
  runOnStart?: boolean | string;
  subtypes?: unknown;
}

export interface PollSettings {
  streamName: string;
  /** The custom stream; built-in streams are planned from the tenant's schema at run time. */
  custom?: PollStream;
  /** Transaction subtype code -> event, for stock.transactions. */
  subtypes: Readonly<Record<string, string>>;
  intervalMs: number;
  lookbackMs: number;
  pageSize: number;
  maxPages: number;
  runOnStart: boolean;
}

const MAX_PAGE_SIZE = 500;
const BUILT_IN = new Set(["goods_out.completed", "goods_in.completed", STOCK_TRANSACTIONS]);
/**
 * Each run reads again at least this far before the watermark: records committed a little after their
 * timestamp. Smaller settings, 0 included, are raised to it.
 */
export const MIN_LOOKBACK_MINUTES = 2;

export function pollSettings(def: PollDef, warn: (message: string) => void = () => {}): PollSettings {
  const streamName = String(def.stream || "goods_out.completed");
  let custom: PollStream | undefined;
  if (streamName === "custom") {
    const query = String(def.query ?? "").trim();
    if (!query) throw new ConfigError("a custom stream needs a query");
    const event = String(def.event ?? "").trim();
    if (event && event !== "unknown" && !isKnownEvent(event)) {
      throw new ConfigError(`event ${JSON.stringify(event)} is not a known Clarus event`);
    }
    custom = customStream(query, event);
  } else if (!BUILT_IN.has(streamName)) {
    throw new ConfigError(`unknown stream ${JSON.stringify(streamName)}`);
  }
  const subtypes = subtypeEvents(def.subtypes);
  if (streamName === STOCK_TRANSACTIONS && Object.keys(subtypes).length === 0) {
    throw new ConfigError("the subtypes map is empty: stock.transactions would emit nothing");
  }
  let lookbackMinutes = nonNegative(def.lookbackMinutes, 10, "lookbackMinutes");
  if (lookbackMinutes < MIN_LOOKBACK_MINUTES) {
    warn(
      `lookbackMinutes ${lookbackMinutes} is below the minimum: each run reads ${MIN_LOOKBACK_MINUTES} minutes back`,
    );
    lookbackMinutes = MIN_LOOKBACK_MINUTES;
  }
  return {
    streamName,
    custom,
    subtypes,
    intervalMs: positive(def.intervalMinutes, 15, "intervalMinutes") * 60_000,
    lookbackMs: lookbackMinutes * 60_000,
    pageSize: Math.min(MAX_PAGE_SIZE, Math.floor(positive(def.pageSize, 100, "pageSize"))),
    maxPages: Math.floor(positive(def.maxPages, 1000, "maxPages")),
    runOnStart: flag(def.runOnStart, true),
  };
}

function positive(value: unknown, fallback: number, name: string): number {
  if (value === undefined || value === "") return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new ConfigError(`${name} must be a positive number`);
  return number;
}

function nonNegative(value: unknown, fallback: number, name: string): number {
  if (value === undefined || value === "") return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0) throw new ConfigError(`${name} must be zero or more`);
  return number;
}
