import { EVENT, UNKNOWN_EVENT } from "../events/vocabulary";
import type { JsonObject } from "../json";
import type { PolledEvent } from "./emission";
import type { PendingRecords } from "./pending";
import type { LookupOptions } from "./record-lookup";

export type { PolledEvent } from "./emission";

/** What a stream may use during one run besides its own query. */
export interface StreamContext extends LookupOptions {
  pending: PendingRecords;
  maxPages: number;
  /** The time this run marks pending records as seen (ISO-8601). */
  seenAt: string;
}

/**
 * One thing clarus-poll can watch: a Relay list read from the watermark on, turned page by page into
 * the events it is about. Built-in streams are planned from the tenant's schema (stream-plans.ts), so
 * every field and filter they use exists there.
 */
export interface PollStream {
  /** How the stream reads, in words: for the log and Test connection. */
  description: string;
  /** Fields the stream would like that the tenant's schema lacks; listed once in a warning. */
  missing: readonly string[];
  query: string;
  /** Where the connection to page through sits in the result. */
  path?: readonly string[];
  variables(since: string): JsonObject;
  /** A timestamp of each node; without a `Date` header the latest one read is the API's "now". */
  timeField?: string;
  /** The key the stream's pending records use, when it keeps any. */
  pendingKey?: string;
  /** The events of one page; may ask the API for the records the page points at. */
  events(nodes: JsonObject[], context: StreamContext): Promise<PolledEvent[]>;
  /** Before the main read: the pending records that are now complete. */
  recheck?(context: StreamContext): Promise<PolledEvent[]>;
  /** After a complete main read: records to keep an eye on, added to the pending records. */
  watch?(context: StreamContext, since: string): Promise<void>;
}

/** A record that is the event once it reaches a state, found through tasks or, failing that, by date. */
export interface CompletedRecordSpec {
  name: string;
  event: string;
  root: string;
  /** The record's fields a message should carry, as wanted; the schema decides which it gets. */
  fields: string;
  /** The filter that picks records in the state of the event. */
  completed: { field: string; value: string };
  /** Values of that field for records not there yet, watched in the fallback until they arrive. */
  openValues: readonly string[];
  /** The documented date filter of the fallback window. */
  dateField: string;
  /** Keys to look records up by, in order of preference. */
  keys: readonly string[];
  taskTypes: readonly string[];
  /** Where a task may point at the record, in order of preference, and the record key it gives. */
  relations: ReadonlyArray<{ select: string; key: string }>;
}

/**
 * Sales orders dispatched: goods-outs in status COMPLETED. Clarus documents no `updated_at` filter on them,
 * so they are found through DISP tasks where a task points at its goods-out, else by a date window on
 * `expected_date_of_dispatch`, the one documented date filter.
 */
export const GOODS_OUT_COMPLETED: CompletedRecordSpec = {
  name: "goods_out.completed",
  event: EVENT.salesOrderDispatched,
  root: "goods_outs",
  fields: `id reference goods_out_type goods_out_status { id code name } | goods_out_status_id
    expected_date_of_dispatch actual_date_of_dispatch priority account { id code name } warehouse { id code name }
    carrier { id code } | carrier_id customer_id external_system_reference1 created_at updated_at
    lines { id order_quantity pick_quantity dispatch_quantity product { id code } }`,
  completed: { field: "goods_out_status_code", value: "COMPLETED" },
  openValues: ["DRAFT", "PENDING", "PICK", "PART", "ALLOCATED", "PART_ALLOCATED"],
  dateField: "expected_date_of_dispatch",
  keys: ["id", "reference"],
  taskTypes: ["DISP"],
  relations: [
    { select: "goods_out { id }", key: "id" },
    { select: "goods_out_id", key: "id" },
    { select: "goods_out { reference }", key: "reference" },
  ],
};

/** Receipts completed and put away. */
export const GOODS_IN_COMPLETED: CompletedRecordSpec = {
  name: "goods_in.completed",
  event: EVENT.goodsInCompleted,
  root: "goods_in_receipts",
  fields: `id reference status receipt_type expected_date_of_receipt actual_date_of_receipt notes
    account { id code name } warehouse { id code name } supplier_id external_system_reference1 created_at updated_at
    lines { id expected_quantity received_quantity product { id code } }`,
  completed: { field: "status", value: "completed" },
  openValues: ["draft", "pending", "receiving"],
  dateField: "expected_date_of_receipt",
  keys: ["id", "reference"],
  taskTypes: ["RCV", "PWAY"],
  relations: [
    { select: "goods_in_receipt { id }", key: "id" },
    { select: "goods_in_receipt_line { goods_in_receipt { id } }", key: "id" },
    { select: "goods_in_receipt_id", key: "id" },
    { select: "goods_in_receipt { reference }", key: "reference" },
    { select: "goods_in_receipt_line { goods_in_receipt { reference } }", key: "reference" },
  ],
};

/**
 * Adjustments and holds: the key list Clarus documents for the stock adjustment webhooks, what its docs
 * show of a transaction, and the stock it moved. Not `completing_user`: webhooks do not carry it, and
 * every field costs throughput on a backfill.
 */
export const TRANSACTION_FIELDS = `id subtype category quantity new_quantity created_at product { id code }
  account { id code } warehouse { id code } stock { id status } | stock_id location_from { id code }
  location_to { id code }`;

export const STOCK_TRANSACTIONS = "stock.transactions";

export const BUILT_IN_STREAMS: readonly string[] = [
  GOODS_OUT_COMPLETED.name,
  GOODS_IN_COMPLETED.name,
  STOCK_TRANSACTIONS,
];

/**
 * The user's own query: it declares `$since`, `$first` and `$after`, and returns one connection whose
 * nodes are emitted as `event` (or "unknown").
 */
export function customStream(query: string, event: string | undefined): PollStream {
  return {
    description: "the custom query",
    missing: [],
    query,
    variables: (since) => ({ since }),
    async events(nodes) {
      return nodes.map((record) => ({ event: event || UNKNOWN_EVENT, record }));
    },
  };
}
