import type { JsonObject } from "../json";
import { isPlainObject } from "../json";
import { EVENT, UNKNOWN_EVENT } from "./vocabulary";

export type ClassifiedBy = "fixed" | "automation" | "payload" | "none";

export interface Classification {
  event: string;
  by: ClassifiedBy;
}

export interface ClassifyInput {
  /** The webhook-in node's `event` property; "auto" or empty means classify. */
  fixedEvent?: string;
  automationId?: string;
  /** automation id -> event, the manual map first, then what discovery found. */
  automationEvents: (automationId: string) => string | undefined;
  record: JsonObject;
}

/**
 * First match wins: fixed event, automation map, payload heuristics, unknown. Clarus sends no event name,
 * so what the user configured outranks what is guessed from the body.
 */
export function classifyEvent(input: ClassifyInput): Classification {
  if (input.fixedEvent && input.fixedEvent !== "auto") return { event: input.fixedEvent, by: "fixed" };
  if (input.automationId) {
    const mapped = input.automationEvents(input.automationId);
    if (mapped) return { event: mapped, by: "automation" };
  }
  const guessed = eventFromPayload(input.record);
  if (guessed) return { event: guessed, by: "payload" };
  return { event: UNKNOWN_EVENT, by: "none" };
}

/** Stock transaction subtypes for adjustments and holds: guesses, since Clarus does not publish them. */
export const TRANSACTION_SUBTYPE_EVENTS: Readonly<Record<string, string>> = {
  ADJUP: EVENT.stockPositivelyAdjusted,
  ADJDOWN: EVENT.stockNegativelyAdjusted,
  HOLD: EVENT.stockPlacedOnHold,
  OFFHOLD: EVENT.stockReleasedFromHold,
};

const COMPLETED_GOODS_OUT_STATUS = 6;

/** Heuristics from the field lists Clarus documents per event; used only when nothing better is known. */
export function eventFromPayload(record: JsonObject): string | undefined {
  const subtype = typeof record.subtype === "string" ? record.subtype.trim().toUpperCase() : undefined;
  if (subtype && TRANSACTION_SUBTYPE_EVENTS[subtype]) return TRANSACTION_SUBTYPE_EVENTS[subtype];

  // A record with any other subtype is a movement (PICK, DISP, RCV, PWAY, a task's "standard"), never an
  // adjustment, however its quantity reads: only the known subtypes above make one.
  const hasSubtype = hasValue(record.subtype);
  if (
    !hasSubtype &&
    record.new_quantity !== undefined &&
    typeof record.quantity === "number" &&
    record.quantity !== 0
  ) {
    return record.quantity > 0 ? EVENT.stockPositivelyAdjusted : EVENT.stockNegativelyAdjusted;
  }

  const status = isPlainObject(record.goods_out_status) ? record.goods_out_status.id : undefined;
  if (
    Number(record.goods_out_status_id ?? status) === COMPLETED_GOODS_OUT_STATUS ||
    (record.goods_out_type !== undefined && hasValue(record.actual_date_of_dispatch))
  ) {
    return EVENT.salesOrderDispatched;
  }

  const receiptFields = ["expected_date_of_arrival", "actual_date_of_arrival", "expected_date_of_receipt"];
  if (receiptFields.some((field) => field in record)) {
    const completed =
      String(record.status ?? "").toLowerCase() === "completed" ||
      hasValue(record.actual_date_of_arrival) ||
      hasValue(record.actual_date_of_receipt);
    if (completed) return EVENT.goodsInCompleted;
  }
  return undefined;
}

function hasValue(value: unknown): boolean {
  return value !== undefined && value !== null && value !== "";
}
