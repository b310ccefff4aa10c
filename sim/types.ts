/**
 * Row shapes of the simulated warehouse. Ids are numbers here (Clarus REST returns integers); GraphQL turns
 * them into `ID` strings on the way out, exactly as the two Clarus APIs differ.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface Row {
  id: number;
}

export interface Party extends Row {
  code: string;
  name: string;
}

export interface Product extends Row {
  code: string;
  name: string;
  account_id: number;
}

export interface Location extends Row {
  code: string;
  warehouse_id: number;
}

export interface StorageUnit extends Row {
  reference: string;
}

export type StockStatus = "available" | "held";

export interface Stock extends Row {
  product_id: number;
  location_id: number;
  account_id: number;
  warehouse_id: number;
  storage_unit_id: number;
  quantity: number;
  status: StockStatus;
  fifo_date: string;
  created_at: string;
  updated_at: string;
}

export interface GoodsOutStatus extends Row {
  code: string;
  name: string;
}

export interface GoodsOutLine extends Row {
  goods_out_id: number;
  product_id: number;
  order_quantity: number;
  pick_quantity: number;
  dispatch_quantity: number;
}

export interface GoodsOut extends Row {
  reference: string;
  goods_out_type: "sales_order";
  goods_out_status_id: number;
  /** Date only, as in the documented examples ("2026-03-11"). */
  expected_date_of_dispatch: string;
  actual_date_of_dispatch: string | null;
  priority: number;
  account_id: number;
  warehouse_id: number;
  customer_id: number;
  carrier_id: number | null;
  external_system_reference1: string;
  created_at: string;
  updated_at: string;
  lines: GoodsOutLine[];
}

export type ReceiptStatus = "draft" | "receiving" | "completed";

export interface ReceiptLine extends Row {
  goods_in_receipt_id: number;
  product_id: number;
  expected_quantity: number;
  received_quantity: number;
}

export interface Receipt extends Row {
  reference: string;
  status: ReceiptStatus;
  receipt_type: string;
  expected_date_of_receipt: string;
  actual_date_of_receipt: string | null;
  notes: string | null;
  account_id: number;
  warehouse_id: number;
  supplier_id: number;
  external_system_reference1: string;
  created_at: string;
  updated_at: string;
  lines: ReceiptLine[];
}

export interface Transaction extends Row {
  subtype: string;
  category: string;
  quantity: number;
  new_quantity: number;
  created_at: string;
  product_id: number;
  account_id: number;
  warehouse_id: number;
  stock_id: number;
  location_from_id: number | null;
  location_to_id: number | null;
  goods_out_id: number | null;
  completing_user_id: number;
  /** Hidden from `transactions.all` unless `include_archived: true`. */
  archived: boolean;
}

export interface Task extends Row {
  status: string;
  subtype: string;
  task_type_code: string;
  start_quantity: number;
  confirmed_quantity: number;
  created_at: string;
  assigned_at: string | null;
  completed_at: string | null;
  goods_out_id: number | null;
  goods_in_receipt_line_id: number | null;
  load_id: number | null;
  product_id: number;
  account_id: number;
  warehouse_id: number;
  location_from_id: number | null;
  location_to_id: number | null;
  priority: number;
  drop_sequence: number;
}

export type WebhookMethod = "POST" | "GET";

/** One parameter of an automation action, e.g. `webhook_url`; codes from Clarus's documented enum. */
export interface AutomationParameter {
  id: number;
  parameter_code: string;
  value: string;
  operator: string | null;
}

/** One action of an automation ("Do this"): a webhook action has `webhook_url` and `webhook_method`. */
export interface AutomationAction {
  id: number;
  destination_type: string;
  destination_code: string;
  parameters: AutomationParameter[];
}

/** One condition of an automation ("When this happens"); all must pass, which the simulator does not check. */
export interface AutomationCondition {
  id: number;
  condition_code: string;
  source_path: string;
  operator: string;
  value: string | number;
}

export interface Automation extends Row {
  name: string;
  resource_name: string;
  event: string;
  enabled: boolean;
  integration_id: number | null;
  created_at: string;
  /** Not in the GraphQL node; read and changed through the REST automations API. */
  conditions: AutomationCondition[];
  /** Not in the GraphQL node: each webhook action is one delivery per event (`sim/automations.ts`). */
  actions: AutomationAction[];
}
