import { relayPages } from "../api/relay";
import { idOf } from "../events/records";
import { isPlainObject, type JsonObject } from "../json";
import { canPage, listQuery } from "../schema/list-query";
import {
  filterOperators,
  fitSelection,
  type RootList,
  rootList,
  type SchemaModel,
} from "../schema/schema-model";
import { parseSelection, type SelectionNode, selectionPath } from "../schema/selection";
import { keyOf, lookupRecords, type RecordLookup } from "./record-lookup";
import {
  type CompletedRecordSpec,
  GOODS_IN_COMPLETED,
  GOODS_OUT_COMPLETED,
  type PolledEvent,
  type PollStream,
  STOCK_TRANSACTIONS,
  type StreamContext,
  TRANSACTION_FIELDS,
} from "./streams";

/**
 * Plans each built-in stream against a tenant's schema, since Clarus documents only part of it and one
 * field a tenant lacks fails the whole query: the fields it wants that exist, the first relation path a
 * task offers, lookups by `in`, else `eq`, else another key, and the documented fallback where tasks point
 * nowhere. A stream that cannot be read at all says what it lacks.
 */
export type StreamPlan = { stream: PollStream } | { failure: string; short: string };

interface Attempt {
  stream?: PollStream;
  /** Why this way cannot work: a sentence part naming the missing piece, and a status-sized version. */
  reason?: string;
  short?: string;
}

const CUSTOM_HINT = "Use a custom stream with a query that fits the schema.";

export function planStream(
  name: string,
  model: SchemaModel,
  subtypes: Readonly<Record<string, string>>,
): StreamPlan {
  if (name === STOCK_TRANSACTIONS) return settle(name, [transactions(model, subtypes)]);
  const spec = [GOODS_OUT_COMPLETED, GOODS_IN_COMPLETED].find((s) => s.name === name);
  if (!spec) return { failure: `unknown stream ${JSON.stringify(name)}`, short: "unknown stream" };
  return settle(name, [throughTasks(spec, model), byDateWindow(spec, model)]);
}

/** The first attempt that works; else a failure naming what each one lacks, the last one's in the status. */
function settle(name: string, attempts: Attempt[]): StreamPlan {
  const working = attempts.find((a) => a.stream);
  if (working?.stream) return { stream: working.stream };
  const reasons = attempts.map((a) => a.reason).join(", and ");
  const short = attempts[attempts.length - 1]?.short ?? "cannot be read";
  return { failure: `${name} cannot be polled on this tenant's schema: ${reasons}. ${CUSTOM_HINT}`, short };
}

function list(model: SchemaModel, root: string): RootList | Attempt {
  const found = rootList(model, root);
  if (!found) return { reason: `the schema has no ${root} list`, short: `no ${root} list` };
  if (!canPage(found))
    return { reason: `${root} cannot be paged (first, after)`, short: `${root} not pageable` };
  return found;
}

function lacksFilter(root: string, field: string, operator: string): Attempt {
  return {
    reason: `${root} cannot be filtered by ${field} (${operator})`,
    short: `no ${field} filter`.slice(0, 40),
  };
}

/** The record's wanted fields that exist; `id` and the lookup key are required. */
function recordFields(
  model: SchemaModel,
  records: RootList,
  spec: { root: string; fields: string },
  key: string,
): { nodes: SelectionNode[]; missing: string[] } | Attempt {
  const fitted = fitSelection(model, records.nodeType, parseSelection(spec.fields));
  for (const required of new Set(["id", key])) {
    if (!model.objects.get(records.nodeType)?.has(required)) {
      return { reason: `${spec.root} have no field ${required}`, short: `${spec.root} lack ${required}` };
    }
    if (!fitted.nodes.some((n) => n.name === required)) fitted.nodes.push({ name: required });
  }
  return fitted;
}

/** `in` when the filter has it, else `eq` (one request per value), else undefined. */
function lookupOperator(model: SchemaModel, records: RootList, key: string): "in" | "eq" | undefined {
  const operators = filterOperators(model, records, key);
  if (operators.has("in")) return "in";
  return operators.has("eq") ? "eq" : undefined;
}

function completedFilter(spec: CompletedRecordSpec): JsonObject {
  return { [spec.completed.field]: { eq: spec.completed.value } };
}

/**
 * Tasks of the stream's types completed since the watermark, then the records they point at that are in
 * state. A record not in state yet is kept pending and read again on each run, so it is not lost for
 * reaching its state after its task completed.
 */
function throughTasks(spec: CompletedRecordSpec, model: SchemaModel): Attempt {
  const tasks = list(model, "tasks");
  if (!("nodeType" in tasks)) return tasks;
  const records = list(model, spec.root);
  if (!("nodeType" in records)) return records;
  const typeOperators = filterOperators(model, tasks, "task_type_code");
  const typeFilter = typeOperators.has("in")
    ? { in: spec.taskTypes }
    : typeOperators.has("eq") && spec.taskTypes.length === 1
      ? { eq: spec.taskTypes[0] }
      : undefined;
  if (!typeFilter) return lacksFilter("tasks", "task_type_code", spec.taskTypes.length > 1 ? "in" : "eq");
  if (!filterOperators(model, tasks, "completed_at").has("from"))
    return lacksFilter("tasks", "completed_at", "from");
  if (!filterOperators(model, records, spec.completed.field).has("eq")) {
    return lacksFilter(spec.root, spec.completed.field, "eq");
  }
  const relation = spec.relations
    .map((r) => ({ ...r, nodes: parseSelection(r.select), operator: lookupOperator(model, records, r.key) }))
    .find((r) => r.operator && fitSelection(model, tasks.nodeType, r.nodes).missing.length === 0);
  if (!relation?.operator) {
    const paths = spec.relations.map((r) => r.select).join(", ");
    return { reason: `tasks point at no ${spec.root} record it can be looked up by (${paths})` };
  }
  const fields = recordFields(model, records, spec, relation.key);
  if (!("nodes" in fields)) return fields;
  const taskFields = fitSelection(model, tasks.nodeType, parseSelection("id completed_at")).nodes;
  const path = selectionPath(relation.nodes);
  const lookup: RecordLookup = {
    query: listQuery("ClarusRecordsByKey", records, fields.nodes),
    path: [spec.root, "all"],
    key: relation.key,
    operator: relation.operator,
    filter: completedFilter(spec),
  };
  const status = filterOperators(model, tasks, "status").has("eq") ? { status: { eq: "COMPLETED" } } : {};
  return {
    stream: {
      description:
        `${spec.taskTypes.join(" and ")} tasks completed since the watermark, then their ${spec.root} ` +
        `(through ${relation.select}, by ${relation.key} with ${relation.operator}) in ${spec.completed.field} ` +
        `${spec.completed.value}; records not there yet are read again on later runs`,
      missing: fields.missing.map((f) => `${spec.root}.${f}`),
      query: listQuery("ClarusCompletedTasks", tasks, [...taskFields, ...relation.nodes]),
      path: ["tasks", "all"],
      variables: (since) => ({
        filter: { task_type_code: typeFilter, ...status, completed_at: { from: since } },
      }),
      timeField: taskFields.some((n) => n.name === "completed_at") ? "completed_at" : undefined,
      pendingKey: relation.key,
      async events(nodes, context) {
        const keys = unique(nodes.map((task) => idOf(valueAt(task, path))));
        return inState(spec, lookup, keys, context, true);
      },
      recheck: (context) => inState(spec, lookup, context.pending.values(lookup.key), context, false),
    },
  };
}

/**
 * The documented fallback: records in state whose date falls on or after the watermark's date less a
 * day. Records due by tomorrow that are not in state yet are watched (pending) so a late one is still
 * found when it completes after its date has left the window.
 */
function byDateWindow(spec: CompletedRecordSpec, model: SchemaModel): Attempt {
  const records = list(model, spec.root);
  if (!("nodeType" in records)) return records;
  const statusOperators = filterOperators(model, records, spec.completed.field);
  const dateOperators = filterOperators(model, records, spec.dateField);
  if (!statusOperators.has("eq")) return lacksFilter(spec.root, spec.completed.field, "eq");
  if (!dateOperators.has("from")) return lacksFilter(spec.root, spec.dateField, "from");
  const key = lookupKey(spec, model, records);
  const fields = recordFields(model, records, spec, key?.key ?? "id");
  if (!("nodes" in fields)) return fields;
  const canWatch = key !== undefined && statusOperators.has("in") && dateOperators.has("to");
  const lookup: RecordLookup | undefined = key && {
    query: listQuery("ClarusRecordsByKey", records, fields.nodes),
    path: [spec.root, "all"],
    ...key,
    filter: completedFilter(spec),
  };
  const watchQuery = listQuery("ClarusOpenRecords", records, [{ name: key?.key ?? "id" }]);
  const stream: PollStream = {
    description:
      `${spec.root} in ${spec.completed.field} ${spec.completed.value} with ${spec.dateField} from the ` +
      `watermark's date less a day (documented fallback)` +
      (canWatch
        ? `; open ones due by tomorrow are watched (by ${key.key} with ${key.operator}) until they complete`
        : `; records completed more than a day after their ${spec.dateField} come only by webhook`),
    missing: fields.missing.map((f) => `${spec.root}.${f}`),
    query: listQuery("ClarusCompletedRecords", records, fields.nodes),
    path: [spec.root, "all"],
    variables: (since) => ({
      filter: { ...completedFilter(spec), [spec.dateField]: { from: startOfDay(since, -1) } },
    }),
    pendingKey: canWatch ? key.key : undefined,
    async events(nodes, context) {
      for (const record of nodes) {
        const value = key ? keyOf(key, record) : undefined;
        if (key && value !== undefined) context.pending.remove(key.key, value);
      }
      return nodes.map((record) => ({ event: spec.event, record }));
    },
  };
  if (key && canWatch && lookup) {
    stream.recheck = (context) => inState(spec, lookup, context.pending.values(key.key), context, false);
    stream.watch = async (context) => {
      const filter = {
        [spec.completed.field]: { in: spec.openValues },
        [spec.dateField]: { to: startOfDay(context.seenAt, 2) },
      };
      let pages = 0;
      const request = {
        query: watchQuery,
        variables: { filter },
        path: stream.path,
        pageSize: context.pageSize,
      };
      for await (const page of relayPages(context.client, { ...request, ...context.request })) {
        for (const record of page.nodes) {
          const value = keyOf(key, record);
          if (value !== undefined) context.pending.touch(key.key, value, context.seenAt);
        }
        if (++pages >= context.maxPages) break;
      }
    };
  }
  return { stream };
}

/** Fewest requests first: id with `in` (all values at once), id with `eq`, then the next key likewise. */
function lookupKey(spec: CompletedRecordSpec, model: SchemaModel, records: RootList) {
  for (const key of spec.keys) {
    const operator = lookupOperator(model, records, key);
    if (operator && model.objects.get(records.nodeType)?.has(key)) return { key, operator };
  }
  return undefined;
}

/** Looks `keys` up; those found in state are the events, the rest stay (or become) pending. */
async function inState(
  spec: CompletedRecordSpec,
  lookup: RecordLookup,
  keys: readonly string[],
  context: StreamContext,
  addMissing: boolean,
): Promise<PolledEvent[]> {
  if (keys.length === 0) return [];
  const found = await lookupRecords(lookup, keys, context);
  const done = new Set<string>();
  for (const record of found) {
    const value = keyOf(lookup, record);
    if (value === undefined) continue;
    done.add(value);
    context.pending.remove(lookup.key, value);
  }
  if (addMissing) {
    for (const value of keys) if (!done.has(value)) context.pending.touch(lookup.key, value, context.seenAt);
  }
  return found.map((record) => ({ event: spec.event, record }));
}

/** Stock transactions created since the watermark, classified by subtype. */
function transactions(model: SchemaModel, subtypes: Readonly<Record<string, string>>): Attempt {
  const found = list(model, "transactions");
  if (!("nodeType" in found)) return found;
  if (!filterOperators(model, found, "created_at").has("from"))
    return lacksFilter("transactions", "created_at", "from");
  if (!model.objects.get(found.nodeType)?.has("subtype")) {
    return {
      reason: "transactions have no field subtype to classify them by",
      short: "transactions lack subtype",
    };
  }
  const fields = recordFields(model, found, { root: "transactions", fields: TRANSACTION_FIELDS }, "id");
  if (!("nodes" in fields)) return fields;
  const codes = Object.keys(subtypes);
  const inQuery = filterOperators(model, found, "subtype").has("in");
  return {
    stream: {
      description:
        `transactions created since the watermark with subtype ${codes.join(", ")}` +
        (inQuery
          ? ""
          : " (the schema cannot filter subtype with in: every transaction is read and sorted here)"),
      missing: fields.missing.map((f) => `transactions.${f}`),
      query: listQuery("ClarusStockTransactions", found, fields.nodes),
      path: ["transactions", "all"],
      variables: (since) => ({
        filter: { created_at: { from: since }, ...(inQuery ? { subtype: { in: codes } } : {}) },
      }),
      timeField: fields.nodes.some((n) => n.name === "created_at") ? "created_at" : undefined,
      async events(nodes) {
        return nodes.flatMap((record) => {
          const event = subtypes[String(record.subtype ?? "").toUpperCase()];
          return event ? [{ event, record }] : [];
        });
      },
    },
  };
}

function valueAt(value: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((current, key) => (isPlainObject(current) ? current[key] : undefined), value);
}

function unique(values: Array<string | undefined>): string[] {
  return [...new Set(values.filter((v): v is string => v !== undefined))];
}

/** Midnight UTC `days` after the date of `iso`, as ISO-8601 (a documented datetime filter value). */
function startOfDay(iso: string, days: number): string {
  const date = new Date(Date.parse(iso));
  date.setUTCHours(0, 0, 0, 0);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString();
}
