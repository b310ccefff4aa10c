import type { Store } from "./store";
import type { GoodsOut, JsonObject, Receipt, Transaction } from "./types";

/**
 * Webhook bodies: REST-style records with integer ids and snake_case fields, as Clarus REST returns them
 * (Clarus publishes no webhook body). Built at the moment of the event, so later changes never rewrite a
 * sent body.
 */

export function goodsOutBody(store: Store, order: GoodsOut): JsonObject {
  return {
    id: order.id,
    reference: order.reference,
    goods_out_type: order.goods_out_type,
    goods_out_status_id: order.goods_out_status_id,
    account_id: order.account_id,
    warehouse_id: order.warehouse_id,
    customer_id: order.customer_id,
    carrier_id: order.carrier_id,
    priority: order.priority,
    expected_date_of_dispatch: order.expected_date_of_dispatch,
    actual_date_of_dispatch: order.actual_date_of_dispatch,
    external_system_reference1: order.external_system_reference1,
    created_at: order.created_at,
    updated_at: order.updated_at,
    lines: order.lines.map((line) => {
      const product = store.requireProduct(line.product_id);
      return {
        id: line.id,
        product: { id: product.id, code: product.code },
        order_quantity: line.order_quantity,
        pick_quantity: line.pick_quantity,
        dispatch_quantity: line.dispatch_quantity,
      };
    }),
  };
}

/** REST names the receipt dates `*_date_of_arrival`; GraphQL calls them `*_date_of_receipt`. */
export function receiptBody(store: Store, receipt: Receipt): JsonObject {
  return {
    id: receipt.id,
    reference: receipt.reference,
    status: receipt.status,
    account_id: receipt.account_id,
    warehouse_id: receipt.warehouse_id,
    supplier_id: receipt.supplier_id,
    expected_date_of_arrival: receipt.expected_date_of_receipt,
    actual_date_of_arrival: receipt.actual_date_of_receipt,
    external_system_reference1: receipt.external_system_reference1,
    notes: receipt.notes,
    created_at: receipt.created_at,
    updated_at: receipt.updated_at,
    lines: receipt.lines.map((line) => {
      const product = store.requireProduct(line.product_id);
      return {
        id: line.id,
        product_id: product.id,
        product: { id: product.id, code: product.code },
        expected_quantity: line.expected_quantity,
        received_quantity: line.received_quantity,
      };
    }),
  };
}

/** Stock events carry the stock transaction (same key list as the documented positive adjustment). */
export function transactionBody(store: Store, txn: Transaction): JsonObject {
  const account = store.requireAccount(txn.account_id);
  const product = store.requireProduct(txn.product_id);
  const warehouse = store.requireWarehouse(txn.warehouse_id);
  const stock = store.stocks.get(txn.stock_id);
  return {
    id: txn.id,
    created_at: txn.created_at,
    account: { id: account.id, code: account.code },
    product: { id: product.id, code: product.code },
    warehouse: { id: warehouse.id, code: warehouse.code },
    quantity: txn.quantity,
    new_quantity: txn.new_quantity,
    subtype: txn.subtype,
    category: txn.category,
    stock: stock ? { id: stock.id, status: stock.status } : null,
  };
}
