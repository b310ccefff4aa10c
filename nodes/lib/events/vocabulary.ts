/**
 * The Clarus automation vocabulary: the `resource_name` and `event` pairs Clarus documents for its
 * automations, written `resource.event`. Clarus sends no event name with a webhook, so this list is what
 * classification and the filter nodes agree on.
 */
export const CLARUS_EVENTS: Readonly<Record<string, readonly string[]>> = {
  goods_out: ["created", "completed", "updated", "processed", "cancelled"],
  goods_in: ["completed", "created", "cancelled", "moved_to_part"],
  goods_out_pick_list: ["completed", "created", "cancelled", "picked"],
  invoice: ["submitted", "authorised", "paid"],
  load_drop: ["dispatched"],
  stock_balance: ["updated"],
  stock: [
    "positively_adjusted",
    "negatively_adjusted",
    "placed_on_hold",
    "released_from_hold",
    "received",
    "unreceived",
    "dispatched",
    "undispatched",
    "account_transferred",
    "picked",
  ],
  putaway_task: ["completed"],
  failure_event_log: ["created"],
  ftp_file: ["uploaded"],
  ftp_import: ["failed"],
  daily_schedule: ["triggered"],
  weekly_schedule: ["triggered"],
  monthly_schedule: ["triggered"],
  one_time_schedule: ["triggered"],
};

export const UNKNOWN_EVENT = "unknown";

export const EVENT = {
  salesOrderDispatched: "goods_out.completed",
  goodsInCompleted: "goods_in.completed",
  stockPositivelyAdjusted: "stock.positively_adjusted",
  stockNegativelyAdjusted: "stock.negatively_adjusted",
  stockPlacedOnHold: "stock.placed_on_hold",
  stockReleasedFromHold: "stock.released_from_hold",
} as const;

export const KNOWN_EVENTS: ReadonlySet<string> = new Set(
  Object.entries(CLARUS_EVENTS).flatMap(([resource, events]) => events.map((e) => `${resource}.${e}`)),
);

export function isKnownEvent(event: string): boolean {
  return KNOWN_EVENTS.has(event);
}

/**
 * Events whose record id alone identifies the occurrence: a record completes or is cancelled once, and a
 * stock event's record is a stock transaction whose id is new for every movement.
 */
export function occursOncePerRecord(event: string): boolean {
  const [resource, action] = event.split(".");
  if (resource === "stock") return true;
  return action === "completed" || action === "cancelled" || action === "created" || action === "dispatched";
}
