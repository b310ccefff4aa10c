import { z } from "zod";

import type { JsonObject } from "../json";
import { isPlainObject } from "../json";
import { unwrapRecord } from "./records";
import { EVENT } from "./vocabulary";

/**
 * What the filter nodes require of a record before they pass it on. Clarus publishes no webhook payload,
 * only lists of fields, so each schema is strict only on what its event needs (the record id, and for
 * stock events the quantity and product) and checks the type of the other fields it knows only when they
 * are present: every one of them may be missing or null, and unknown fields always pass.
 */

const NOT_BLANK = /\S/;
const DECIMAL = /^[+-]?\d+(\.\d+)?$/;

/** Ids: integers from REST-style bodies, strings from GraphQL, as Clarus's two APIs give them. */
const ID_MESSAGE = "must be an integer or a non-empty string";
const id = z.union([z.number().int(ID_MESSAGE), z.string().regex(NOT_BLANK, ID_MESSAGE)], {
  error: (issue) => (issue.input === undefined ? "is required" : ID_MESSAGE),
});

/** Quantities are decimals; a GraphQL client may hand them over as strings ("24.0"). */
const quantity = z.union([z.number(), z.string().regex(DECIMAL, "must be a number")], {
  error: (issue) => (issue.input === undefined ? "is required" : "must be a number"),
});

/**
 * In Clarus's examples some date fields are date-only ("2026-03-11"), others ISO-8601 date-times. Clarus asks
 * for a zone but a date-time without one is still a date: refusing it would fail a valid event.
 */
const date = z.union([z.iso.date(), z.iso.datetime({ offset: true, local: true })], {
  error: "must be a date (YYYY-MM-DD) or an ISO-8601 date-time",
});

const text = z.union([z.string(), z.number()], { error: "must be a string" });

/** A nested reference such as `account{id code}`, `warehouse{id code}`, `product{id code}`. */
const reference = z.looseObject({ id: id.nullish(), code: text.nullish() });

const product = reference.refine((value) => value.id != null || value.code != null, {
  message: "must have an id or a code",
});

const timestamps = { created_at: date.nullish(), updated_at: date.nullish() };

const goodsOutLine = z.looseObject({
  id: id.nullish(),
  product: reference.nullish(),
  order_quantity: quantity.nullish(),
  allocated_quantity: quantity.nullish(),
  pick_quantity: quantity.nullish(),
  dispatch_quantity: quantity.nullish(),
});

/** A goods_out (sales order) as the REST body (`*_id` fields) or the GraphQL record (nested objects). */
export const goodsOutRecord = z.looseObject({
  id,
  reference: text.nullish(),
  goods_out_type: z.string().nullish(),
  goods_out_status_id: id.nullish(),
  goods_out_status: reference.nullish(),
  account_id: id.nullish(),
  account: reference.nullish(),
  warehouse_id: id.nullish(),
  warehouse: reference.nullish(),
  customer_id: id.nullish(),
  expected_date_of_dispatch: date.nullish(),
  actual_date_of_dispatch: date.nullish(),
  lines: z.array(goodsOutLine).nullish(),
  ...timestamps,
});

const receiptLine = z.looseObject({
  id: id.nullish(),
  product_id: id.nullish(),
  product: reference.nullish(),
  expected_quantity: quantity.nullish(),
  received_quantity: quantity.nullish(),
});

/** A goods-in receipt; REST names its dates `*_date_of_arrival`, GraphQL `*_date_of_receipt`. */
export const receiptRecord = z.looseObject({
  id,
  reference: text.nullish(),
  status: z.string().nullish(),
  account_id: id.nullish(),
  account: reference.nullish(),
  warehouse_id: id.nullish(),
  warehouse: reference.nullish(),
  supplier_id: id.nullish(),
  expected_date_of_arrival: date.nullish(),
  actual_date_of_arrival: date.nullish(),
  expected_date_of_receipt: date.nullish(),
  actual_date_of_receipt: date.nullish(),
  lines: z.array(receiptLine).nullish(),
  ...timestamps,
});

/** A stock transaction: the key list Clarus documents for the stock adjustment webhooks. */
export const stockTransactionRecord = z.looseObject({
  id,
  quantity,
  product,
  new_quantity: quantity.nullish(),
  account: reference.nullish(),
  warehouse: reference.nullish(),
  subtype: z.string().nullish(),
  category: z.string().nullish(),
  stock: z.looseObject({ id: id.nullish(), status: z.string().nullish() }).nullish(),
  created_at: date.nullish(),
});

/** Events with no published shape: any object passes. */
export const anyRecord = z.looseObject({});

const STOCK_TRANSACTION_EVENTS: ReadonlySet<string> = new Set([
  EVENT.stockPositivelyAdjusted,
  EVENT.stockNegativelyAdjusted,
  EVENT.stockPlacedOnHold,
  EVENT.stockReleasedFromHold,
]);

/** The schema of an event's record: per family (goods_out.*, goods_in.*, stock adjustments and holds). */
export function schemaForEvent(event: string): z.ZodType<JsonObject> {
  if (STOCK_TRANSACTION_EVENTS.has(event)) return stockTransactionRecord;
  const [resource] = event.split(".");
  if (resource === "goods_out") return goodsOutRecord;
  if (resource === "goods_in") return receiptRecord;
  return anyRecord;
}

export interface SchemaIssue {
  /** Where in `msg` the problem is, e.g. `payload.lines[0].product`. */
  path: string;
  message: string;
}

export type RecordValidation = { ok: true; record: JsonObject } | { ok: false; issues: SchemaIssue[] };

/**
 * Checks `payload` (the body, or a `data` envelope around it) against the event's schema. On success
 * `record` is the unwrapped record as parsed, a copy: the payload itself is never changed.
 */
export function validateEventRecord(event: string, payload: unknown): RecordValidation {
  if (!isPlainObject(payload)) {
    return {
      ok: false,
      issues: [{ path: "payload", message: `must be an object (got ${kindOf(payload)})` }],
    };
  }
  const record = unwrapRecord(payload);
  const base = record === payload ? "payload" : "payload.data";
  const result = schemaForEvent(event).safeParse(record, { error: readableMessage });
  if (result.success) return { ok: true, record: result.data };
  return {
    ok: false,
    issues: result.error.issues.map((issue) => ({
      path: pathText(base, issue.path),
      message: issue.message,
    })),
  };
}

const LISTED_ISSUES = 10;

/** `payload.id is required; payload.quantity must be a number`, at most ten of them. */
export function describeIssues(issues: readonly SchemaIssue[]): string {
  const listed = issues.slice(0, LISTED_ISSUES).map((issue) => `${issue.path} ${issue.message}`);
  const more = issues.length - listed.length;
  return listed.join("; ") + (more > 0 ? `; and ${more} more` : "");
}

/** A matched message whose record fails its event's schema; goes to `done(err)`, so Catch nodes see it. */
export class InvalidRecordError extends Error {
  override name = "InvalidRecordError";
  readonly code = "CLARUS_INVALID_RECORD";

  constructor(
    readonly event: string,
    readonly issues: readonly SchemaIssue[],
  ) {
    super(`${event} payload is invalid: ${describeIssues(issues)}`);
  }
}

/** Short predicates instead of zod's defaults, so that `<path> <message>` reads as a sentence. */
const readableMessage: z.core.$ZodErrorMap = (issue) => {
  if (issue.code !== "invalid_type") return undefined;
  if (issue.input === undefined) return "is required";
  return `must be ${withArticle(issue.expected)} (got ${kindOf(issue.input)})`;
};

function withArticle(noun: string): string {
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`;
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function pathText(base: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (text, key) => (typeof key === "number" ? `${text}[${key}]` : `${text}.${String(key)}`),
    base,
  );
}
