import type { JsonObject } from "../json";
import { isPlainObject } from "../json";
import { idOf } from "./records";
import { EVENT } from "./vocabulary";

/**
 * The fields a filter node adds under `msg.clarus`, the same whether the record came as a REST-style
 * webhook body (integer ids, `*_id` fields) or as a GraphQL record (string ids, nested objects). A field
 * is left out when the event or the record does not carry it.
 */
export interface NormalisedFields {
  /** The record id as a string: `123` and `"123"` are the same record. */
  recordId?: string;
  reference?: string;
  /** Stock events: the transaction's quantity as sent; dispatch and receipt: the total over the lines. */
  quantity?: number;
  direction?: "positive" | "negative";
  holdChange?: "placed" | "released";
  productCode?: string;
  warehouseCode?: string;
}

/** Which line quantity makes up the total of an order event. */
const LINE_QUANTITY: Readonly<Record<string, string>> = {
  [EVENT.salesOrderDispatched]: "dispatch_quantity",
  [EVENT.goodsInCompleted]: "received_quantity",
};

const DIRECTION: Readonly<Record<string, NormalisedFields["direction"]>> = {
  [EVENT.stockPositivelyAdjusted]: "positive",
  [EVENT.stockNegativelyAdjusted]: "negative",
};

const HOLD_CHANGE: Readonly<Record<string, NormalisedFields["holdChange"]>> = {
  [EVENT.stockPlacedOnHold]: "placed",
  [EVENT.stockReleasedFromHold]: "released",
};

/** `record` is the unwrapped record (validateEventRecord's result), never the `data` envelope. */
export function normalisedFields(event: string, record: JsonObject): NormalisedFields {
  const lineQuantity = LINE_QUANTITY[event];
  const fields: NormalisedFields = {
    recordId: idOf(record.id),
    reference: textOf(record.reference),
    quantity: lineQuantity ? sumOf(record.lines, lineQuantity) : numberOf(record.quantity),
    // Direction and hold change come from the event: Clarus does not document the sign of the quantity.
    direction: DIRECTION[event],
    holdChange: HOLD_CHANGE[event],
    productCode: codeOf(record.product) ?? textOf(record.product_code),
    warehouseCode: codeOf(record.warehouse) ?? textOf(record.warehouse_code),
  };
  for (const key of Object.keys(fields) as (keyof NormalisedFields)[]) {
    if (fields[key] === undefined) delete fields[key];
  }
  return fields;
}

function textOf(value: unknown): string | undefined {
  if (typeof value === "string" && value.trim() !== "") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

function codeOf(value: unknown): string | undefined {
  return isPlainObject(value) ? textOf(value.code) : undefined;
}

function numberOf(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value === "string" && value.trim() !== "") {
    const parsed = Number(value);
    return Number.isFinite(parsed) ? parsed : undefined;
  }
  return undefined;
}

/** The total of one quantity over the lines; undefined when no line carries it. */
function sumOf(lines: unknown, field: string): number | undefined {
  if (!Array.isArray(lines)) return undefined;
  let total: number | undefined;
  for (const line of lines) {
    const value = isPlainObject(line) ? numberOf(line[field]) : undefined;
    if (value !== undefined) total = (total ?? 0) + value;
  }
  // Decimal quantities (0.1 + 0.2) should not come out as 0.30000000000000004.
  return total === undefined ? undefined : Math.round(total * 1e6) / 1e6;
}
