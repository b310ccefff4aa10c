/**
 * Vocabulary the simulator writes. Codes marked [I] are inferences: Clarus does not publish transaction
 * subtypes for adjustments and holds, and the node package classifies with the same codes
 * (nodes/lib/events/classify.ts), so both sides agree until a live tenant says otherwise.
 */

/** The six events the simulator generates, written `resource.event` like the node package's vocabulary. */
export const SIM_EVENTS = {
  salesOrderDispatched: "goods_out.completed",
  goodsInCompleted: "goods_in.completed",
  stockPositivelyAdjusted: "stock.positively_adjusted",
  stockNegativelyAdjusted: "stock.negatively_adjusted",
  stockPlacedOnHold: "stock.placed_on_hold",
  stockReleasedFromHold: "stock.released_from_hold",
} as const;

export type SimEventId = (typeof SIM_EVENTS)[keyof typeof SIM_EVENTS];

export const ALL_SIM_EVENTS: readonly SimEventId[] = Object.values(SIM_EVENTS);

export function isSimEventId(value: string): value is SimEventId {
  return (ALL_SIM_EVENTS as readonly string[]).includes(value);
}

/** Transaction subtypes. PICK and RCV are documented; the rest are [I]. */
export const TRANSACTION_SUBTYPE = {
  pick: "PICK",
  dispatch: "DISP",
  receive: "RCV",
  putaway: "PWAY",
  adjustUp: "ADJUP",
  adjustDown: "ADJDOWN",
  hold: "HOLD",
  offHold: "OFFHOLD",
} as const;

/** Transaction categories [I]. */
export const TRANSACTION_CATEGORY = {
  picking: "PICKING",
  dispatch: "DISPATCH",
  receipt: "RECEIPT",
  putaway: "PUTAWAY",
  adjustment: "ADJUSTMENT",
  status: "STATUS",
} as const;

/** Task type codes (documented: PICK, DISP, RCV, PWAY, TRAN, REPLEN, LOAD, CONV). */
export const TASK_TYPE = {
  pick: { id: 1, code: "PICK" },
  dispatch: { id: 2, code: "DISP" },
  receive: { id: 3, code: "RCV" },
  putaway: { id: 4, code: "PWAY" },
} as const;

export const TASK_STATUS = { available: "AVAILABLE", completed: "COMPLETED" } as const;

/** The goods_out status ids Clarus documents (`GoodsOutStatusId` in its OpenAPI spec). */
export const GOODS_OUT_STATUSES = [
  { id: 1, code: "DRAFT", name: "Draft" },
  { id: 2, code: "PENDING", name: "Pending" },
  { id: 3, code: "PICK", name: "Pick" },
  { id: 4, code: "PART", name: "Part" },
  { id: 5, code: "ALLOCATED", name: "Allocated" },
  { id: 6, code: "COMPLETED", name: "Completed" },
  { id: 7, code: "PART_ALLOCATED", name: "Part allocated" },
  { id: 8, code: "CANCELLED", name: "Cancelled" },
] as const;

export const GOODS_OUT_STATUS_ID = { pending: 2, allocated: 5, completed: 6 } as const;
