import { buildSchema, GraphQLError, type GraphQLSchema } from "graphql";

import { TASK_TYPE } from "./constants";
import { DIALECT_OPERATOR_TYPES_SDL, DIALECTS, type DialectSpec, type SchemaDialect } from "./dialects";
import {
  compileFilter,
  type FilterKind,
  type FilterSpec,
  OPERATOR_TYPE_NAME,
  OPERATOR_TYPES_SDL,
} from "./filters";
import { encodeCursor, MAX_PAGE_SIZE, page, type PageArgs } from "./paging";
import type { Store } from "./store";
import type {
  Automation,
  GoodsOut,
  GoodsOutLine,
  Receipt,
  ReceiptLine,
  Row,
  Stock,
  Task,
  Transaction,
} from "./types";

/**
 * The GraphQL side of the tenant, shaped as Clarus documents it: one root field per resource, each with
 * `all(filter, first, after)` returning a Relay connection. Node objects are built lazily (functions
 * the default resolver calls), so nested references cost nothing unless a query selects them.
 */

/** Per-request state the resolvers share; the fault layer sets `partialData`. */
export interface RequestContext {
  partialData: boolean;
  partialApplied: boolean;
}

type Node = Record<string, unknown>;

interface Resource<T extends Row> {
  field: string;
  typeName: string;
  filterType: string;
  rows: (store: Store) => readonly T[];
  filters: FilterSpec<T>;
  node: (store: Store, row: T) => Node;
  extraArgs?: string;
  /** Rows hidden unless an argument asks for them (archived transactions). */
  visible?: (row: T, args: AllArgs) => boolean;
}

interface AllArgs extends PageArgs {
  filter?: unknown;
  include_archived?: boolean | null;
}

function resources(store: Store) {
  const goodsOuts: Resource<GoodsOut> = {
    field: "goods_outs",
    typeName: "GoodsOut",
    filterType: "GoodsOutsFilterType",
    rows: (s) => s.goodsOuts.all(),
    filters: {
      id: { kind: "id", get: (o) => o.id },
      reference: { kind: "string", get: (o) => o.reference },
      goods_out_status_code: {
        kind: "string",
        get: (o) => store.goodsOutStatuses.get(o.goods_out_status_id)?.code ?? null,
      },
      account_id: { kind: "id", get: (o) => o.account_id },
      warehouse_id: { kind: "id", get: (o) => o.warehouse_id },
      carrier_id: { kind: "id", get: (o) => o.carrier_id },
      expected_date_of_dispatch: { kind: "datetime", get: (o) => o.expected_date_of_dispatch },
    },
    node: goodsOutNode,
  };
  const receipts: Resource<Receipt> = {
    field: "goods_in_receipts",
    typeName: "GoodsInReceipt",
    filterType: "InboundGoodFilterType",
    rows: (s) => s.receipts.all(),
    filters: {
      id: { kind: "id", get: (r) => r.id },
      reference: { kind: "string", get: (r) => r.reference },
      status: { kind: "string", get: (r) => r.status },
      account_id: { kind: "id", get: (r) => r.account_id },
      warehouse_id: { kind: "id", get: (r) => r.warehouse_id },
      expected_date_of_receipt: { kind: "datetime", get: (r) => r.expected_date_of_receipt },
    },
    node: receiptNode,
  };
  const stocks: Resource<Stock> = {
    field: "stocks",
    typeName: "Stock",
    filterType: "StockFilterType",
    rows: (s) => s.stocks.all(),
    filters: {
      id: { kind: "id", get: (s) => s.id },
      product_id: { kind: "id", get: (s) => s.product_id },
      product_code: { kind: "string", get: (s) => store.products.get(s.product_id)?.code ?? null },
      account_id: { kind: "id", get: (s) => s.account_id },
      warehouse_id: { kind: "id", get: (s) => s.warehouse_id },
      location_id: { kind: "id", get: (s) => s.location_id },
      location_code: { kind: "string", get: (s) => store.locations.get(s.location_id)?.code ?? null },
      storage_unit_id: { kind: "id", get: (s) => s.storage_unit_id },
      status: { kind: "string", get: (s) => s.status },
      quantity: { kind: "decimal", get: (s) => s.quantity },
      fifo_date: { kind: "datetime", get: (s) => s.fifo_date },
    },
    node: stockNode,
  };
  const transactions: Resource<Transaction> = {
    field: "transactions",
    typeName: "Transaction",
    filterType: "TransactionFilterType",
    rows: (s) => s.transactions.all(),
    filters: {
      id: { kind: "id", get: (t) => t.id },
      subtype: { kind: "string", get: (t) => t.subtype },
      category: { kind: "string", get: (t) => t.category },
      product_id: { kind: "id", get: (t) => t.product_id },
      account_id: { kind: "id", get: (t) => t.account_id },
      warehouse_id: { kind: "id", get: (t) => t.warehouse_id },
      created_at: { kind: "datetime", get: (t) => t.created_at },
      goods_out_id: { kind: "id", get: (t) => t.goods_out_id },
      location_from_id: { kind: "id", get: (t) => t.location_from_id },
      location_to_id: { kind: "id", get: (t) => t.location_to_id },
    },
    node: transactionNode,
    extraArgs: ", include_archived: Boolean",
    visible: (t, args) => args.include_archived === true || !t.archived,
  };
  const tasks: Resource<Task> = {
    field: "tasks",
    typeName: "Task",
    filterType: "TaskFilterType",
    rows: (s) => s.tasks.all(),
    filters: {
      id: { kind: "id", get: (t) => t.id },
      status: { kind: "string", get: (t) => t.status },
      subtype: { kind: "string", get: (t) => t.subtype },
      task_type_code: { kind: "string", get: (t) => t.task_type_code },
      account_id: { kind: "id", get: (t) => t.account_id },
      warehouse_id: { kind: "id", get: (t) => t.warehouse_id },
      product_id: { kind: "id", get: (t) => t.product_id },
      goods_out_id: { kind: "id", get: (t) => t.goods_out_id },
      goods_in_receipt_line_id: { kind: "id", get: (t) => t.goods_in_receipt_line_id },
      load_id: { kind: "id", get: (t) => t.load_id },
      assigned_at: { kind: "datetime", get: (t) => t.assigned_at },
      completed_at: { kind: "datetime", get: (t) => t.completed_at },
      created_at: { kind: "datetime", get: (t) => t.created_at },
      priority: { kind: "integer", get: (t) => t.priority },
      drop_sequence: { kind: "integer", get: (t) => t.drop_sequence },
    },
    node: taskNode,
  };
  const automations: Resource<Automation> = {
    field: "automations",
    typeName: "Automation",
    filterType: "AutomationFilterType",
    rows: (s) => s.automations.all(),
    filters: {
      id: { kind: "id", get: (a) => a.id },
      name: { kind: "string", get: (a) => a.name },
      resource_name: { kind: "string", get: (a) => a.resource_name },
      event: { kind: "string", get: (a) => a.event },
      enabled: { kind: "boolean", get: (a) => a.enabled },
      integration_id: { kind: "id", get: (a) => a.integration_id },
      created_at: { kind: "datetime", get: (a) => a.created_at },
    },
    node: (_s, a) => ({
      id: a.id,
      name: a.name,
      resource_name: a.resource_name,
      event: a.event,
      enabled: a.enabled,
      integration_id: a.integration_id,
      created_at: a.created_at,
    }),
  };
  return [
    erase(goodsOuts),
    erase(receipts),
    erase(stocks),
    erase(transactions),
    erase(tasks),
    erase(automations),
  ];
}

/** A resource with its row type hidden behind closures, so the six can live in one list. */
interface AnyResource {
  field: string;
  typeName: string;
  filterType: string;
  filterKinds: Array<[string, FilterKind]>;
  extraArgs: string;
  all: (store: Store, args: AllArgs, ctx: RequestContext, maxPageSize: number) => Node;
}

function erase<T extends Row>(resource: Resource<T>): AnyResource {
  return {
    field: resource.field,
    typeName: resource.typeName,
    filterType: resource.filterType,
    filterKinds: Object.entries(resource.filters).map(([name, spec]) => [name, spec.kind]),
    extraArgs: resource.extraArgs ?? "",
    all: (store, args, ctx, maxPageSize) => connection(store, resource, args, ctx, maxPageSize),
  };
}

/**
 * SDL for the filters, connections and root fields, derived from the resource specs: the dialect picks
 * which filter fields exist and their operator types, and `without` ("FilterType.field") removes more.
 */
function resourceSdl(
  list: readonly AnyResource[],
  dialect: DialectSpec,
  without: ReadonlySet<string>,
): string {
  const parts: string[] = [];
  const rootFields: string[] = [];
  for (const resource of list) {
    const { typeName, filterType } = resource;
    const offered = dialect.filters[filterType];
    const filterFields = resource.filterKinds
      .filter(([name]) => (offered ?? [name]).includes(name) && !without.has(`${filterType}.${name}`))
      .map(
        ([name, kind]) =>
          `  ${name}: ${dialect.operators[`${filterType}.${name}`] ?? OPERATOR_TYPE_NAME[kind]}`,
      )
      .join("\n");
    const queryType = `${typeName}sQuery`;
    parts.push(
      `input ${filterType} {\n${filterFields}\n}`,
      // node is nullable so a partial failure can null one record and report it in `errors`.
      `type ${typeName}Edge { cursor: String!, node: ${typeName} }`,
      `type ${typeName}Connection { edges: [${typeName}Edge!]!, pageInfo: PageInfo! }`,
      `type ${queryType} { all(filter: ${filterType}, first: Int, after: String${resource.extraArgs}): ${typeName}Connection }`,
    );
    rootFields.push(`  ${resource.field}: ${queryType}!`);
  }
  return `${parts.join("\n")}\ntype Query {\n${rootFields.join("\n")}\n}`;
}

export interface ClarusGraphql {
  schema: GraphQLSchema;
  rootValue: Record<string, () => Node>;
}

export interface GraphqlOptions {
  /** Which schema the tenant speaks (dialects.ts); default `rich`. */
  dialect?: SchemaDialect;
  /** Test only: filter fields to leave out, as "FilterType.field" (a tenant where a stream cannot work). */
  without?: readonly string[];
  /** The most records one page holds, whatever `first` asks for (default 500); a map caps per root field. */
  maxPageSize?: number | Readonly<Record<string, number>>;
}

export function createGraphql(store: Store, options: GraphqlOptions = {}): ClarusGraphql {
  const list = resources(store);
  const dialect = DIALECTS[options.dialect ?? "rich"];
  const sdl = resourceSdl(list, dialect, new Set(options.without ?? []));
  const schema = buildSchema(
    `${OPERATOR_TYPES_SDL}${DIALECT_OPERATOR_TYPES_SDL}\n${dialect.objects}\n${sdl}`,
  );
  const rootValue: Record<string, () => Node> = {};
  for (const resource of list) {
    const cap = options.maxPageSize;
    const maxPageSize = (typeof cap === "number" ? cap : cap?.[resource.field]) ?? MAX_PAGE_SIZE;
    rootValue[resource.field] = () => ({
      all: (args: AllArgs, ctx: RequestContext) => resource.all(store, args, ctx, maxPageSize),
    });
  }
  return { schema, rootValue };
}

function connection<T extends Row>(
  store: Store,
  resource: Resource<T>,
  args: AllArgs,
  ctx: RequestContext,
  maxPageSize: number,
): Node {
  const matches = compileFilter(resource.filters, args.filter);
  const visible = resource.visible;
  const match = visible ? (row: T) => visible(row, args) && matches(row) : matches;
  const result = page(resource.rows(store), match, args, maxPageSize);
  const edges: Array<{ cursor: string; node: Node | (() => Node) }> = result.rows.map((row) => ({
    cursor: encodeCursor(row.id),
    node: resource.node(store, row),
  }));
  if (ctx.partialData && !ctx.partialApplied) {
    const last = edges[edges.length - 1];
    if (!last) {
      ctx.partialApplied = true;
      throw partialError();
    }
    last.node = () => {
      ctx.partialApplied = true;
      throw partialError();
    };
  }
  const first = edges[0];
  const end = edges[edges.length - 1];
  return {
    edges,
    pageInfo: {
      hasNextPage: result.hasNextPage,
      hasPreviousPage: result.hasPreviousPage,
      startCursor: first ? first.cursor : null,
      endCursor: end ? end.cursor : null,
    },
  };
}

function partialError(): GraphQLError {
  return new GraphQLError("Simulated failure while loading this record", {
    extensions: { code: "INTERNAL_SERVER_ERROR", simulated: true },
  });
}

// Node builders. Relations are functions so graphql-js only resolves what a query selects.

function party(store: Store, kind: "accounts" | "warehouses", id: number): () => Node | null {
  return () => {
    const row = store[kind].get(id);
    return row ? { id: row.id, code: row.code, name: row.name } : null;
  };
}

function productRef(store: Store, id: number): () => Node | null {
  return () => {
    const p = store.products.get(id);
    return p ? { id: p.id, code: p.code, name: p.name } : null;
  };
}

function locationRef(store: Store, id: number | null): () => Node | null {
  return () => {
    const l = id === null ? undefined : store.locations.get(id);
    return l ? { id: l.id, code: l.code } : null;
  };
}

function goodsOutRef(store: Store, id: number | null): () => Node | null {
  return () => {
    const o = id === null ? undefined : store.goodsOuts.get(id);
    return o ? goodsOutNode(store, o) : null;
  };
}

function goodsOutNode(store: Store, o: GoodsOut): Node {
  return {
    ...pickScalars(o, [
      "id",
      "reference",
      "goods_out_type",
      "goods_out_status_id",
      "expected_date_of_dispatch",
      "actual_date_of_dispatch",
      "priority",
      "customer_id",
      "carrier_id",
      "external_system_reference1",
      "created_at",
      "updated_at",
    ]),
    goods_out_status: () => {
      const status = store.goodsOutStatuses.get(o.goods_out_status_id);
      return status ? { id: status.id, code: status.code, name: status.name } : null;
    },
    account: party(store, "accounts", o.account_id),
    warehouse: party(store, "warehouses", o.warehouse_id),
    carrier: o.carrier_id === null ? null : { id: o.carrier_id, code: `CARRIER-${o.carrier_id}` },
    lines: () => o.lines.map((line) => goodsOutLineNode(store, line)),
  };
}

function goodsOutLineNode(store: Store, line: GoodsOutLine): Node {
  return {
    id: line.id,
    order_quantity: line.order_quantity,
    pick_quantity: line.pick_quantity,
    dispatch_quantity: line.dispatch_quantity,
    product: productRef(store, line.product_id),
    goods_out: goodsOutRef(store, line.goods_out_id),
    goods_out_id: line.goods_out_id,
  };
}

function receiptNode(store: Store, r: Receipt): Node {
  return {
    ...pickScalars(r, [
      "id",
      "reference",
      "status",
      "receipt_type",
      "expected_date_of_receipt",
      "actual_date_of_receipt",
      "notes",
      "supplier_id",
      "external_system_reference1",
      "created_at",
      "updated_at",
    ]),
    account: party(store, "accounts", r.account_id),
    warehouse: party(store, "warehouses", r.warehouse_id),
    lines: () => r.lines.map((line) => receiptLineNode(store, line)),
  };
}

function receiptLineNode(store: Store, line: ReceiptLine): Node {
  return {
    id: line.id,
    expected_quantity: line.expected_quantity,
    received_quantity: line.received_quantity,
    product: productRef(store, line.product_id),
    goods_in_receipt: () => {
      const receipt = store.receipts.get(line.goods_in_receipt_id);
      return receipt ? receiptNode(store, receipt) : null;
    },
    goods_in_receipt_id: line.goods_in_receipt_id,
  };
}

function stockNode(store: Store, s: Stock): Node {
  return {
    ...pickScalars(s, ["id", "quantity", "status", "fifo_date", "created_at", "updated_at"]),
    product: productRef(store, s.product_id),
    location: locationRef(store, s.location_id),
    account: party(store, "accounts", s.account_id),
    warehouse: party(store, "warehouses", s.warehouse_id),
    storage_unit: () => {
      const unit = store.storageUnits.get(s.storage_unit_id);
      return unit ? { id: unit.id, reference: unit.reference } : null;
    },
  };
}

function transactionNode(store: Store, t: Transaction): Node {
  return {
    ...pickScalars(t, ["id", "subtype", "category", "quantity", "new_quantity", "created_at"]),
    product: productRef(store, t.product_id),
    account: party(store, "accounts", t.account_id),
    warehouse: party(store, "warehouses", t.warehouse_id),
    stock: () => {
      const stock = store.stocks.get(t.stock_id);
      return stock ? stockNode(store, stock) : null;
    },
    location_from: locationRef(store, t.location_from_id),
    location_to: locationRef(store, t.location_to_id),
    goods_out: goodsOutRef(store, t.goods_out_id),
    completing_user: { id: t.completing_user_id },
    stock_id: t.stock_id,
    goods_out_id: t.goods_out_id,
  };
}

const TASK_TYPES: ReadonlyArray<{ id: number; code: string }> = Object.values(TASK_TYPE);

function taskNode(store: Store, t: Task): Node {
  return {
    ...pickScalars(t, [
      "id",
      "status",
      "subtype",
      "start_quantity",
      "confirmed_quantity",
      "created_at",
      "assigned_at",
      "completed_at",
      "priority",
      "drop_sequence",
    ]),
    task_type: () =>
      TASK_TYPES.find((type) => type.code === t.task_type_code) ?? { id: 0, code: t.task_type_code },
    goods_out: goodsOutRef(store, t.goods_out_id),
    goods_in_receipt_line: () => {
      const line =
        t.goods_in_receipt_line_id === null ? undefined : store.receiptLines.get(t.goods_in_receipt_line_id);
      return line ? receiptLineNode(store, line) : null;
    },
    goods_out_id: t.goods_out_id,
    goods_in_receipt_line_id: t.goods_in_receipt_line_id,
    goods_in_receipt_id: () => {
      const line =
        t.goods_in_receipt_line_id === null ? undefined : store.receiptLines.get(t.goods_in_receipt_line_id);
      return line ? line.goods_in_receipt_id : null;
    },
    product: productRef(store, t.product_id),
    account: party(store, "accounts", t.account_id),
    warehouse: party(store, "warehouses", t.warehouse_id),
    location_from: locationRef(store, t.location_from_id),
    location_to: locationRef(store, t.location_to_id),
  };
}

function pickScalars<T extends object, K extends keyof T>(row: T, keys: readonly K[]): Node {
  const out: Node = {};
  for (const key of keys) out[key as string] = row[key];
  return out;
}
