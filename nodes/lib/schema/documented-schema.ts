import type { ObjectField, SchemaModel, TypeRef } from "./schema-model";
import { parseSelection, type SelectionNode } from "./selection";

/**
 * The one schema known to exist: the lists, node fields, filters and filter operators Clarus documents for
 * its GraphQL API, and nothing more. Used when a tenant refuses introspection. `product{}` and the like,
 * whose subfields the docs leave open, are read as `{ id code }`.
 */
interface DocumentedList {
  root: string;
  /** Documented name of the filter input type; undefined where the docs name none. */
  filterType?: string;
  /** Filter fields by operator kind. */
  filters: Partial<Record<OperatorKind, string>>;
  fields: string;
  extraArgs?: Record<string, string>;
}

type OperatorKind = "String" | "Integer" | "Decimal" | "Datetime" | "Boolean" | "Id" | "Subtype";

/** Each filter field takes an operator object; these are the operators Clarus documents per kind. */
const OPERATORS: Readonly<Record<OperatorKind, readonly string[]>> = {
  String: ["eq", "ilike", "like", "in", "between"],
  Integer: ["eq", "gt", "gteq", "lt", "lteq", "between"],
  Decimal: ["eq", "gt", "gteq", "lt", "lteq", "between"],
  Datetime: ["eq", "from", "to", "between"],
  Boolean: ["eq"],
  Id: ["eq", "gt", "gteq", "lt", "lteq", "in", "filled"],
  // Clarus documents TransactionFilterType.subtype as a SubtypeTypeInputType, with `eq` and `in` only.
  Subtype: ["eq", "in"],
};

const LISTS: readonly DocumentedList[] = [
  {
    root: "goods_outs",
    filterType: "GoodsOutsFilterType",
    filters: {
      String: "reference goods_out_status_code",
      Id: "account_id warehouse_id carrier_id",
      Datetime: "expected_date_of_dispatch",
    },
    fields: `id reference priority expected_date_of_dispatch goods_out_status { code name } account { id code }
      warehouse { id code } carrier { id code }`,
  },
  {
    root: "goods_out_lines",
    filterType: "GoodsOutLineFilterType",
    filters: {
      Id: "goods_out_id product_id account_id warehouse_id carrier_id",
      String: "goods_out_status_code",
      Decimal: "order_quantity pick_quantity",
      Datetime: "created_at",
    },
    fields: `id order_quantity allocated_quantity pick_quantity dispatch_quantity short_status product { id code }
      goods_out { id reference } carrier { id }`,
  },
  {
    root: "goods_in_receipts",
    filterType: "InboundGoodFilterType",
    filters: {
      String: "reference status",
      Id: "account_id warehouse_id",
      Datetime: "expected_date_of_receipt",
    },
    fields: `id reference status receipt_type expected_date_of_receipt actual_date_of_receipt notes
      account { id code name } warehouse { id code name }`,
  },
  {
    root: "stocks",
    filterType: "StockFilterType",
    filters: {
      Id: "product_id account_id warehouse_id location_id storage_unit_id",
      String: "product_code location_code status",
      Decimal: "quantity",
      Datetime: "fifo_date",
    },
    fields: `id quantity status fifo_date product { id code } location { id code } account { id code }
      storage_unit { id reference }`,
  },
  {
    root: "transactions",
    filterType: "TransactionFilterType",
    filters: {
      Subtype: "subtype",
      String: "category",
      Id: "product_id account_id warehouse_id goods_out_id location_from_id location_to_id",
      Datetime: "created_at",
    },
    fields: `id subtype category quantity created_at product { id code } account { id code }
      location_from { id code } location_to { id code } completing_user { id }`,
    extraArgs: { include_archived: "Boolean" },
  },
  {
    root: "tasks",
    filterType: "TaskFilterType",
    filters: {
      String: "status subtype task_type_code",
      Id: "account_id warehouse_id product_id goods_out_id goods_in_receipt_line_id load_id user_id storage_unit_from_id",
      Datetime: "assigned_at completed_at created_at",
      Integer: "priority drop_sequence",
    },
    fields: `id status subtype start_quantity confirmed_quantity created_at account { id code } warehouse { id code }
      product { id code } task_type { id code } location_from { id code } location_to { id code }`,
  },
  {
    // Clarus documents the filter fields of `automations`, but not the filter type's name.
    root: "automations",
    filters: {},
    fields: "id name resource_name event enabled integration_id created_at",
  },
];

const SCALAR: TypeRef = { name: "String", kind: "SCALAR", printed: "String" };

function ref(name: string, kind: string, printed = name): TypeRef {
  return { name, kind, printed };
}

function field(type: TypeRef, args: ReadonlyMap<string, TypeRef> = new Map()): ObjectField {
  return { type, args };
}

/** The documented minimum as a model the planners read like an introspected one. */
export function documentedSchema(): SchemaModel {
  const objects = new Map<string, Map<string, ObjectField>>();
  const inputs = new Map<string, Map<string, TypeRef>>();
  const query = new Map<string, ObjectField>();
  objects.set("Query", query);
  objects.set(
    "PageInfo",
    new Map([
      ["hasNextPage", field(SCALAR)],
      ["endCursor", field(SCALAR)],
    ]),
  );
  for (const [kind, operators] of Object.entries(OPERATORS)) {
    inputs.set(operatorType(kind), new Map(operators.map((op) => [op, SCALAR])));
  }
  for (const list of LISTS) {
    const nodeType = `${list.root}.node`;
    addObject(objects, nodeType, parseSelection(list.fields));
    const args = new Map<string, TypeRef>([
      ["first", ref("Int", "SCALAR")],
      ["after", ref("String", "SCALAR")],
    ]);
    for (const [name, type] of Object.entries(list.extraArgs ?? {})) args.set(name, ref(type, "SCALAR"));
    if (list.filterType) {
      args.set("filter", ref(list.filterType, "INPUT_OBJECT"));
      const filter = new Map<string, TypeRef>();
      for (const [kind, names] of Object.entries(list.filters)) {
        for (const name of names.split(/\s+/).filter(Boolean))
          filter.set(name, ref(operatorType(kind), "INPUT_OBJECT"));
      }
      inputs.set(list.filterType, filter);
    }
    objects.set(`${list.root}.edge`, new Map([["node", field(ref(nodeType, "OBJECT"))]]));
    objects.set(
      `${list.root}.connection`,
      new Map([
        ["edges", field(ref(`${list.root}.edge`, "OBJECT", `[${list.root}.edge]`))],
        ["pageInfo", field(ref("PageInfo", "OBJECT"))],
      ]),
    );
    objects.set(
      `${list.root}.list`,
      new Map([["all", field(ref(`${list.root}.connection`, "OBJECT"), args)]]),
    );
    query.set(list.root, field(ref(`${list.root}.list`, "OBJECT")));
  }
  return { source: "documented", queryType: "Query", objects, inputs };
}

function operatorType(kind: string): string {
  return `${kind}.operators`;
}

function addObject(
  objects: Map<string, Map<string, ObjectField>>,
  name: string,
  nodes: readonly SelectionNode[],
) {
  const fields = new Map<string, ObjectField>();
  for (const node of nodes) {
    if (node.children) {
      const child = `${name}.${node.name}`;
      addObject(objects, child, node.children);
      fields.set(node.name, field(ref(child, "OBJECT")));
    } else {
      fields.set(node.name, field(SCALAR));
    }
  }
  objects.set(name, fields);
}
