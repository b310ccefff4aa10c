/**
 * The schemas the simulator can speak. Clarus documents only part of its GraphQL schema, so a client must
 * work on whatever a tenant has; the dialects are the shapes it is tested against:
 * - `rich`: every field the simulator knows, relations as objects (`goods_out { id }`), `id` filters.
 * - `documented`: only the fields and filters the Clarus docs show; no task points at its goods-out or
 *   receipt, no `id` filter on goods-outs and receipts, transactions filter `subtype` with `eq`/`in` only.
 * - `scalar`: the rich fields, but relations between records as scalar ids (`goods_out_id`,
 *   `goods_in_receipt_id`, `stock_id`), no `id` filter on goods-outs and an `eq`-only `id` filter on
 *   receipts.
 */
export type SchemaDialect = "documented" | "rich" | "scalar";

export const SCHEMA_DIALECTS: readonly SchemaDialect[] = ["documented", "rich", "scalar"];

export function isSchemaDialect(value: unknown): value is SchemaDialect {
  return (SCHEMA_DIALECTS as readonly unknown[]).includes(value);
}

export interface DialectSpec {
  /** SDL of the object types (the record types and what they point at). */
  objects: string;
  /** The filter fields each filter type offers; a filter type not named here offers every field. */
  filters: Readonly<Record<string, readonly string[]>>;
  /** The operator input type of `FilterType.field`, where it is not the default of the field's kind. */
  operators: Readonly<Record<string, string>>;
}

/** Operator input types that only some dialects use (the rest are in filters.ts). */
export const DIALECT_OPERATOR_TYPES_SDL = `
"Subtype codes: eq and in only (TransactionFilterType.subtype in the Clarus docs)."
input SubtypeTypeInputType { eq: String, in: [String!] }
"An id filter that takes one id at a time."
input IdEqOperatorType { eq: ID }
`;

const REFERENCE_TYPES = `
type PageInfo { hasNextPage: Boolean!, hasPreviousPage: Boolean!, startCursor: String, endCursor: String }
type Account { id: ID!, code: String!, name: String! }
type Warehouse { id: ID!, code: String!, name: String! }
type Product { id: ID!, code: String!, name: String! }
type Location { id: ID!, code: String! }
type StorageUnit { id: ID!, reference: String! }
type User { id: ID! }
type TaskType { id: ID!, code: String! }
type Automation {
  id: ID!, name: String!, resource_name: String!, event: String!, enabled: Boolean!, integration_id: ID
  created_at: String!
}
`;

/**
 * Record types rich and scalar share: they differ only where one record points at another. Both have
 * every documented field too, as a real tenant does.
 */
const FULL_RECORD_TYPES = `
type GoodsOutStatus { id: ID!, code: String!, name: String! }
type Carrier { id: ID!, code: String! }
type GoodsOut {
  id: ID!, reference: String!, goods_out_type: String!, goods_out_status: GoodsOutStatus!
  goods_out_status_id: ID!, expected_date_of_dispatch: String, actual_date_of_dispatch: String
  priority: Int, account: Account!, warehouse: Warehouse!, carrier: Carrier, customer_id: ID, carrier_id: ID
  external_system_reference1: String, created_at: String!, updated_at: String!, lines: [GoodsOutLine!]!
}
type GoodsInReceipt {
  id: ID!, reference: String!, status: String!, receipt_type: String, expected_date_of_receipt: String
  actual_date_of_receipt: String, notes: String, account: Account!, warehouse: Warehouse!, supplier_id: ID
  external_system_reference1: String, created_at: String!, updated_at: String!, lines: [GoodsInReceiptLine!]!
}
type Stock {
  id: ID!, quantity: Float!, status: String!, fifo_date: String, product: Product!, location: Location!
  account: Account!, warehouse: Warehouse!, storage_unit: StorageUnit, created_at: String!, updated_at: String!
}
`;

const TASK_FIELDS = `id: ID!, status: String!, subtype: String, start_quantity: Float!, confirmed_quantity: Float!
  created_at: String!, assigned_at: String, completed_at: String, priority: Int, drop_sequence: Int
  task_type: TaskType!, product: Product!, account: Account!, warehouse: Warehouse!, location_from: Location
  location_to: Location`;

const TRANSACTION_FIELDS = `id: ID!, subtype: String!, category: String!, quantity: Float!, new_quantity: Float!
  created_at: String!, product: Product!, account: Account!, warehouse: Warehouse!, location_from: Location
  location_to: Location, completing_user: User`;

/** GoodsOutsFilterType as Clarus documents it: no `id` filter. */
const DOCUMENTED_GOODS_OUT_FILTERS = [
  "reference",
  "goods_out_status_code",
  "account_id",
  "warehouse_id",
  "carrier_id",
  "expected_date_of_dispatch",
];

const RICH: DialectSpec = {
  objects: `${REFERENCE_TYPES}${FULL_RECORD_TYPES}
type GoodsOutLine {
  id: ID!, order_quantity: Float!, pick_quantity: Float!, dispatch_quantity: Float!
  product: Product!, goods_out: GoodsOut!
}
type GoodsInReceiptLine {
  id: ID!, expected_quantity: Float!, received_quantity: Float!, product: Product!
  goods_in_receipt: GoodsInReceipt!
}
type Transaction { ${TRANSACTION_FIELDS}, stock: Stock, goods_out: GoodsOut }
type Task { ${TASK_FIELDS}, goods_out: GoodsOut, goods_in_receipt_line: GoodsInReceiptLine }
`,
  filters: {},
  operators: {},
};

const SCALAR: DialectSpec = {
  objects: `${REFERENCE_TYPES}${FULL_RECORD_TYPES}
type GoodsOutLine {
  id: ID!, order_quantity: Float!, pick_quantity: Float!, dispatch_quantity: Float!
  product: Product!, goods_out_id: ID!
}
type GoodsInReceiptLine {
  id: ID!, expected_quantity: Float!, received_quantity: Float!, product: Product!, goods_in_receipt_id: ID!
}
type Transaction { ${TRANSACTION_FIELDS}, stock_id: ID, goods_out_id: ID }
type Task { ${TASK_FIELDS}, goods_out_id: ID, goods_in_receipt_line_id: ID, goods_in_receipt_id: ID }
`,
  filters: { GoodsOutsFilterType: DOCUMENTED_GOODS_OUT_FILTERS },
  operators: { "InboundGoodFilterType.id": "IdEqOperatorType" },
};

/** What the Clarus docs show, field by field and filter by filter; `product{}` and the like are `{id code}`. */
const DOCUMENTED: DialectSpec = {
  objects: `${REFERENCE_TYPES}
type GoodsOutStatus { code: String!, name: String! }
type Carrier { id: ID!, code: String! }
type GoodsOut {
  id: ID!, reference: String!, priority: Int, expected_date_of_dispatch: String
  goods_out_status: GoodsOutStatus!, account: Account!, warehouse: Warehouse!, carrier: Carrier
}
type GoodsInReceipt {
  id: ID!, reference: String!, status: String!, receipt_type: String, expected_date_of_receipt: String
  actual_date_of_receipt: String, notes: String, account: Account!, warehouse: Warehouse!
}
type Stock {
  id: ID!, quantity: Float!, status: String!, fifo_date: String, product: Product!, location: Location!
  account: Account!, storage_unit: StorageUnit
}
type Transaction {
  id: ID!, subtype: String!, category: String!, quantity: Float!, created_at: String!, product: Product!
  account: Account!, location_from: Location, location_to: Location, completing_user: User
}
type Task {
  id: ID!, status: String!, subtype: String, start_quantity: Float!, confirmed_quantity: Float!
  created_at: String!, account: Account!, warehouse: Warehouse!, product: Product!, task_type: TaskType!
  location_from: Location, location_to: Location
}
`,
  filters: {
    GoodsOutsFilterType: DOCUMENTED_GOODS_OUT_FILTERS,
    InboundGoodFilterType: ["reference", "status", "account_id", "warehouse_id", "expected_date_of_receipt"],
    StockFilterType: [
      "product_id",
      "product_code",
      "account_id",
      "warehouse_id",
      "location_id",
      "location_code",
      "storage_unit_id",
      "status",
      "quantity",
      "fifo_date",
    ],
    TransactionFilterType: [
      "subtype",
      "category",
      "product_id",
      "account_id",
      "warehouse_id",
      "created_at",
      "goods_out_id",
      "location_from_id",
      "location_to_id",
    ],
    TaskFilterType: [
      "status",
      "subtype",
      "task_type_code",
      "account_id",
      "warehouse_id",
      "product_id",
      "goods_out_id",
      "goods_in_receipt_line_id",
      "load_id",
      "assigned_at",
      "completed_at",
      "created_at",
      "priority",
      "drop_sequence",
    ],
    AutomationFilterType: ["name", "resource_name", "event", "enabled", "integration_id", "created_at"],
  },
  operators: { "TransactionFilterType.subtype": "SubtypeTypeInputType" },
};

export const DIALECTS: Readonly<Record<SchemaDialect, DialectSpec>> = {
  documented: DOCUMENTED,
  rich: RICH,
  scalar: SCALAR,
};
