import type { ClarusClient } from "../api/client";
import { TRANSACTION_SUBTYPE_EVENTS } from "../events/classify";
import { EVENT, UNKNOWN_EVENT } from "../events/vocabulary";
import { findConnection } from "../api/relay";
import { isPlainObject } from "../json";
import { idOf } from "../events/records";
import type { JsonObject } from "../json";

export interface PolledEvent {
  event: string;
  record: JsonObject;
}

/**
 * One thing clarus-poll can watch. Clarus documents no `updated_at` filter, so each built-in stream
 * pages through something with a documented time filter and turns each page into the records its
 * event is about (research/clarus.md §5.3).
 */
export interface PollStream {
  query: string;
  /** Where the connection to page through sits in the result. */
  path?: readonly string[];
  variables(since: string): JsonObject;
  /** The events of one page; may ask the API for the records the page points at. */
  events(nodes: JsonObject[], client: ClarusClient, signal: AbortSignal): Promise<PolledEvent[]>;
}

const PAGE = "pageInfo { hasNextPage endCursor }";

const GOODS_OUT_FIELDS = `id reference goods_out_type goods_out_status { id code name } goods_out_status_id
  expected_date_of_dispatch actual_date_of_dispatch priority account { id code name } warehouse { id code name }
  customer_id carrier_id external_system_reference1 created_at updated_at
  lines { id order_quantity pick_quantity dispatch_quantity product { id code } }`;

const RECEIPT_FIELDS = `id reference status receipt_type expected_date_of_receipt actual_date_of_receipt notes
  account { id code name } warehouse { id code name } supplier_id external_system_reference1 created_at updated_at
  lines { id expected_quantity received_quantity product { id code } }`;

const TRANSACTION_FIELDS = `id subtype category quantity new_quantity created_at product { id code }
  account { id code } warehouse { id code } stock { id status } location_from { id code } location_to { id code }`;

/** Fetches records by id; ids come from one page, so one request covers them. */
async function recordsById(
  client: ClarusClient,
  root: string,
  filterType: string,
  fields: string,
  filter: JsonObject,
  ids: string[],
  signal: AbortSignal,
): Promise<JsonObject[]> {
  if (ids.length === 0) return [];
  const query = `query ClarusRecordsById($filter: ${filterType}, $first: Int) {
    ${root} { all(filter: $filter, first: $first) { ${PAGE} edges { node { ${fields} } } } }
  }`;
  const data = await client.graphql(
    query,
    { filter: { ...filter, id: { in: ids } }, first: ids.length },
    { signal },
  );
  return findConnection(data, [root, "all"])?.nodes ?? [];
}

function uniqueIds(values: unknown[]): string[] {
  return [...new Set(values.map(idOf).filter((id): id is string => id !== undefined))];
}

function field(value: unknown, ...path: string[]): unknown {
  return path.reduce<unknown>((current, key) => (isPlainObject(current) ? current[key] : undefined), value);
}

const COMPLETED_TASKS = `query ClarusCompletedTasks($filter: TaskFilterType, $first: Int, $after: String) {
  tasks { all(filter: $filter, first: $first, after: $after) {
    ${PAGE}
    edges { node { id completed_at goods_out { id } goods_in_receipt_line { id goods_in_receipt { id } } } }
  } }
}`;

function completedTaskFilter(types: string[], since: string): JsonObject {
  return { task_type_code: { in: types }, status: { eq: "COMPLETED" }, completed_at: { from: since } };
}

interface CompletedTasksStream {
  taskTypes: string[];
  /** Where a task points at the record, e.g. ["goods_out", "id"]. */
  recordIdPath: string[];
  root: string;
  filterType: string;
  fields: string;
  /** Only records in this state are the event (a task can complete before its record does). */
  recordFilter: JsonObject;
  event: string;
}

/** Tasks of `taskTypes` completed since the watermark, then the records they point at, if in state. */
function completedTasksStream(spec: CompletedTasksStream): PollStream {
  return {
    query: COMPLETED_TASKS,
    path: ["tasks", "all"],
    variables: (since) => ({ filter: completedTaskFilter(spec.taskTypes, since) }),
    async events(tasks, client, signal) {
      const ids = uniqueIds(tasks.map((task) => field(task, ...spec.recordIdPath)));
      const records = await recordsById(
        client,
        spec.root,
        spec.filterType,
        spec.fields,
        spec.recordFilter,
        ids,
        signal,
      );
      return records.map((record) => ({ event: spec.event, record }));
    },
  };
}

/** Sales orders dispatched: DISP tasks, then their orders if COMPLETED. */
const salesOrdersDispatched = completedTasksStream({
  taskTypes: ["DISP"],
  recordIdPath: ["goods_out", "id"],
  root: "goods_outs",
  filterType: "GoodsOutsFilterType",
  fields: GOODS_OUT_FIELDS,
  recordFilter: { goods_out_status_code: { eq: "COMPLETED" } },
  event: EVENT.salesOrderDispatched,
});

/** Receipts completed and put away: RCV/PWAY tasks, then their receipts if completed. */
const goodsInCompleted = completedTasksStream({
  taskTypes: ["RCV", "PWAY"],
  recordIdPath: ["goods_in_receipt_line", "goods_in_receipt", "id"],
  root: "goods_in_receipts",
  filterType: "InboundGoodFilterType",
  fields: RECEIPT_FIELDS,
  recordFilter: { status: { eq: "completed" } },
  event: EVENT.goodsInCompleted,
});

/** Adjustments and holds: stock transactions created since the watermark, by subtype. */
const stockTransactions: PollStream = {
  query: `query ClarusStockTransactions($filter: TransactionFilterType, $first: Int, $after: String) {
    transactions { all(filter: $filter, first: $first, after: $after) { ${PAGE} edges { node { ${TRANSACTION_FIELDS} } } } }
  }`,
  path: ["transactions", "all"],
  variables: (since) => ({
    filter: { created_at: { from: since }, subtype: { in: Object.keys(TRANSACTION_SUBTYPE_EVENTS) } },
  }),
  async events(transactions) {
    return transactions.flatMap((record) => {
      const event = TRANSACTION_SUBTYPE_EVENTS[String(record.subtype ?? "").toUpperCase()];
      return event ? [{ event, record }] : [];
    });
  },
};

export const POLL_STREAMS: Readonly<Record<string, PollStream>> = {
  [EVENT.salesOrderDispatched]: salesOrdersDispatched,
  [EVENT.goodsInCompleted]: goodsInCompleted,
  "stock.transactions": stockTransactions,
};

/**
 * The user's own query: it declares `$since`, `$first` and `$after`, and returns one connection whose
 * nodes are emitted as `event` (or "unknown").
 */
export function customStream(query: string, event: string | undefined): PollStream {
  return {
    query,
    variables: (since) => ({ since }),
    async events(nodes) {
      return nodes.map((record) => ({ event: event || UNKNOWN_EVENT, record }));
    },
  };
}
