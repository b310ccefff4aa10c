import { goodsOutBody, receiptBody, transactionBody } from "./bodies";
import {
  GOODS_OUT_STATUS_ID,
  SIM_EVENTS,
  type SimEventId,
  TASK_STATUS,
  TASK_TYPE,
  TRANSACTION_CATEGORY,
  TRANSACTION_SUBTYPE,
} from "./constants";
import type { Prng } from "./prng";
import { BAY, type Store } from "./store";
import { dateOnly, DAY_MS, HOUR_MS, isoSeconds, MINUTE_MS } from "./time";
import type { GoodsOut, JsonObject, Location, Receipt, Stock, Task, Transaction } from "./types";

/** What one activity produced: the event Clarus would fire and the webhook body of its record. */
export interface ActivityEvent {
  event: SimEventId;
  recordId: number;
  body: JsonObject;
  occurredAtMs: number;
}

/** Open orders and receipts kept waiting, so there is always something to dispatch or receive. */
const OPEN_BACKLOG = 3;

/**
 * Warehouse activity. Each kind changes the store the way Clarus would (records, tasks, transactions,
 * stock) and returns the one event it fires, so a webhook and a GraphQL poll see the same facts.
 */
export class Activity {
  constructor(
    private readonly store: Store,
    private readonly prng: Prng,
  ) {}

  /** Kinds that can run now without a precondition (release needs held stock, etc.). */
  feasible(kind: SimEventId): boolean {
    switch (kind) {
      case SIM_EVENTS.stockNegativelyAdjusted:
        return this.store.stocks.all().some((s) => s.quantity > 0);
      case SIM_EVENTS.stockPlacedOnHold:
        return this.store.stocks.all().some((s) => s.status === "available" && s.quantity > 0);
      case SIM_EVENTS.stockReleasedFromHold:
        return this.store.stocks.all().some((s) => s.status === "held");
      default:
        return true;
    }
  }

  /**
   * Runs one activity. When its precondition is missing (nothing held to release, no stock to adjust
   * down), the enabling activity runs first and its event comes first in the result.
   */
  run(kind: SimEventId, atMs: number): ActivityEvent[] {
    const before: ActivityEvent[] = [];
    if (!this.feasible(kind)) {
      const enabler =
        kind === SIM_EVENTS.stockReleasedFromHold && this.feasible(SIM_EVENTS.stockPlacedOnHold)
          ? SIM_EVENTS.stockPlacedOnHold
          : SIM_EVENTS.stockPositivelyAdjusted;
      before.push(this.runOne(enabler, atMs));
      if (!this.feasible(kind)) before.push(this.runOne(SIM_EVENTS.stockPlacedOnHold, atMs));
    }
    return [...before, this.runOne(kind, atMs)];
  }

  private runOne(kind: SimEventId, atMs: number): ActivityEvent {
    switch (kind) {
      case SIM_EVENTS.salesOrderDispatched:
        return this.dispatchOrder(atMs);
      case SIM_EVENTS.goodsInCompleted:
        return this.completeReceipt(atMs);
      case SIM_EVENTS.stockPositivelyAdjusted:
        return this.adjust(atMs, +1);
      case SIM_EVENTS.stockNegativelyAdjusted:
        return this.adjust(atMs, -1);
      case SIM_EVENTS.stockPlacedOnHold:
        return this.setHold(atMs, true);
      case SIM_EVENTS.stockReleasedFromHold:
        return this.setHold(atMs, false);
    }
  }

  /** A new order waiting for dispatch. Not an event: the simulator only fires the six it leads with. */
  createOpenOrder(atMs: number): GoodsOut {
    const { store, prng } = this;
    const account = prng.pick(store.accounts.all());
    const warehouse = prng.pick(store.warehouses.all());
    const at = isoSeconds(atMs);
    const order = store.goodsOuts.insert({
      reference: "",
      goods_out_type: "sales_order",
      goods_out_status_id: prng.chance(0.5) ? GOODS_OUT_STATUS_ID.pending : GOODS_OUT_STATUS_ID.allocated,
      expected_date_of_dispatch: dateOnly(atMs + prng.int(0, 2) * DAY_MS),
      actual_date_of_dispatch: null,
      priority: prng.int(1, 5),
      account_id: account.id,
      warehouse_id: warehouse.id,
      customer_id: prng.pick(store.customerIds),
      carrier_id: null,
      external_system_reference1: `SHOP-${prng.int(100000, 999999)}`,
      created_at: at,
      updated_at: at,
      lines: [],
    });
    order.reference = `SO-${order.id}`;
    const products = [...store.productsOf(account.id)];
    const lineCount = prng.int(1, 3);
    for (let n = 0; n < lineCount && products.length > 0; n++) {
      const product = products.splice(prng.int(0, products.length - 1), 1)[0];
      if (!product) break;
      order.lines.push(
        store.goodsOutLines.insert({
          goods_out_id: order.id,
          product_id: product.id,
          order_quantity: prng.int(1, 10),
          pick_quantity: 0,
          dispatch_quantity: 0,
        }),
      );
    }
    return order;
  }

  createOpenReceipt(atMs: number): Receipt {
    const { store, prng } = this;
    const account = prng.pick(store.accounts.all());
    const warehouse = prng.pick(store.warehouses.all());
    const at = isoSeconds(atMs);
    const receipt = store.receipts.insert({
      reference: "",
      status: prng.chance(0.5) ? "draft" : "receiving",
      receipt_type: "standard",
      expected_date_of_receipt: dateOnly(atMs + prng.int(0, 3) * DAY_MS),
      actual_date_of_receipt: null,
      notes: prng.chance(0.3) ? "Pallets wrapped" : null,
      account_id: account.id,
      warehouse_id: warehouse.id,
      supplier_id: prng.pick(store.supplierIds),
      external_system_reference1: `PO-${prng.int(10000, 99999)}`,
      created_at: at,
      updated_at: at,
      lines: [],
    });
    receipt.reference = `GIR-${receipt.id}`;
    const products = [...store.productsOf(account.id)];
    const lineCount = prng.int(1, 3);
    for (let n = 0; n < lineCount && products.length > 0; n++) {
      const product = products.splice(prng.int(0, products.length - 1), 1)[0];
      if (!product) break;
      receipt.lines.push(
        store.receiptLines.insert({
          goods_in_receipt_id: receipt.id,
          product_id: product.id,
          expected_quantity: prng.int(5, 60),
          received_quantity: 0,
        }),
      );
    }
    return receipt;
  }

  /** Sales order dispatched: picks from available stock (FIFO), completes PICK and DISP tasks, status 6. */
  private dispatchOrder(atMs: number): ActivityEvent {
    const { store, prng } = this;
    const order =
      store.goodsOuts
        .all()
        .find(
          (o) => o.goods_out_status_id !== GOODS_OUT_STATUS_ID.completed && o.goods_out_status_id !== 8,
        ) ?? this.createOpenOrder(atMs - prng.int(1, 6) * HOUR_MS);
    const now = isoSeconds(atMs);
    const despatch = store.bay(order.warehouse_id, BAY.despatch);
    const user = prng.pick(store.userIds);
    for (const line of order.lines) {
      let remaining = line.order_quantity;
      let firstLocation: number | null = null;
      const sources = store.stocks
        .all()
        .filter(
          (s) =>
            s.product_id === line.product_id &&
            s.warehouse_id === order.warehouse_id &&
            s.status === "available" &&
            s.quantity > 0,
        )
        .sort((a, b) => a.fifo_date.localeCompare(b.fifo_date) || a.id - b.id);
      for (const stock of sources) {
        if (remaining <= 0) break;
        const take = Math.min(stock.quantity, remaining);
        remaining -= take;
        stock.quantity -= take;
        stock.updated_at = now;
        firstLocation ??= stock.location_id;
        const common = { stock, goodsOutId: order.id, user, now };
        this.addTransaction(common, TRANSACTION_SUBTYPE.pick, TRANSACTION_CATEGORY.picking, take, {
          from: stock.location_id,
          to: despatch.id,
        });
        this.addTransaction(common, TRANSACTION_SUBTYPE.dispatch, TRANSACTION_CATEGORY.dispatch, -take, {
          from: despatch.id,
          to: null,
        });
      }
      const picked = line.order_quantity - remaining;
      line.pick_quantity = picked;
      line.dispatch_quantity = picked;
      const base = {
        product_id: line.product_id,
        account_id: order.account_id,
        warehouse_id: order.warehouse_id,
        goods_out_id: order.id,
        goods_in_receipt_line_id: null,
        priority: order.priority,
      };
      this.addTask(base, TASK_TYPE.pick.code, atMs - 20 * MINUTE_MS, now, line.order_quantity, picked, {
        from: firstLocation,
        to: despatch.id,
      });
      this.addTask(base, TASK_TYPE.dispatch.code, atMs - 5 * MINUTE_MS, now, picked, picked, {
        from: despatch.id,
        to: null,
      });
    }
    order.goods_out_status_id = GOODS_OUT_STATUS_ID.completed;
    order.actual_date_of_dispatch = now;
    order.updated_at = now;
    this.keepBacklog(atMs);
    return {
      event: SIM_EVENTS.salesOrderDispatched,
      recordId: order.id,
      body: goodsOutBody(store, order),
      occurredAtMs: atMs,
    };
  }

  /** Receipt completed and put away: new stock per line, RCV and PWAY tasks and transactions. */
  private completeReceipt(atMs: number): ActivityEvent {
    const { store, prng } = this;
    const receipt =
      store.receipts.all().find((r) => r.status !== "completed") ??
      this.createOpenReceipt(atMs - prng.int(1, 12) * HOUR_MS);
    const now = isoSeconds(atMs);
    const goodsIn = store.bay(receipt.warehouse_id, BAY.goodsIn);
    const user = prng.pick(store.userIds);
    for (const line of receipt.lines) {
      const received = prng.chance(0.1)
        ? Math.max(1, line.expected_quantity - prng.int(1, 3))
        : line.expected_quantity;
      line.received_quantity = received;
      const target: Location = store.pickStorageLocation(prng, receipt.warehouse_id);
      const stock = store.addStock(
        store.requireProduct(line.product_id),
        receipt.warehouse_id,
        target,
        received,
        now,
      );
      const common = { stock, goodsOutId: null, user, now };
      this.addTransaction(common, TRANSACTION_SUBTYPE.receive, TRANSACTION_CATEGORY.receipt, received, {
        from: null,
        to: goodsIn.id,
      });
      this.addTransaction(common, TRANSACTION_SUBTYPE.putaway, TRANSACTION_CATEGORY.putaway, received, {
        from: goodsIn.id,
        to: target.id,
      });
      const base = {
        product_id: line.product_id,
        account_id: receipt.account_id,
        warehouse_id: receipt.warehouse_id,
        goods_out_id: null,
        goods_in_receipt_line_id: line.id,
        priority: 3,
      };
      this.addTask(
        base,
        TASK_TYPE.receive.code,
        atMs - 30 * MINUTE_MS,
        now,
        line.expected_quantity,
        received,
        {
          from: null,
          to: goodsIn.id,
        },
      );
      this.addTask(base, TASK_TYPE.putaway.code, atMs - 10 * MINUTE_MS, now, received, received, {
        from: goodsIn.id,
        to: target.id,
      });
    }
    receipt.status = "completed";
    receipt.actual_date_of_receipt = now;
    receipt.updated_at = now;
    this.keepBacklog(atMs);
    return {
      event: SIM_EVENTS.goodsInCompleted,
      recordId: receipt.id,
      body: receiptBody(store, receipt),
      occurredAtMs: atMs,
    };
  }

  /** Signed `quantity`, `new_quantity` = the stock's quantity after the adjustment. */
  private adjust(atMs: number, sign: 1 | -1): ActivityEvent {
    const { store, prng } = this;
    const candidates = store.stocks.all().filter((s) => sign > 0 || s.quantity > 0);
    const stock = prng.pick(candidates);
    const delta = sign > 0 ? prng.int(1, 25) : Math.min(stock.quantity, prng.int(1, 10));
    const now = isoSeconds(atMs);
    stock.quantity += sign * delta;
    stock.updated_at = now;
    const txn = this.addTransaction(
      { stock, goodsOutId: null, user: prng.pick(store.userIds), now },
      sign > 0 ? TRANSACTION_SUBTYPE.adjustUp : TRANSACTION_SUBTYPE.adjustDown,
      TRANSACTION_CATEGORY.adjustment,
      sign * delta,
      sign > 0 ? { from: null, to: stock.location_id } : { from: stock.location_id, to: null },
    );
    const event = sign > 0 ? SIM_EVENTS.stockPositivelyAdjusted : SIM_EVENTS.stockNegativelyAdjusted;
    return { event, recordId: txn.id, body: transactionBody(store, txn), occurredAtMs: atMs };
  }

  /** Hold or release: the stock's status flips; the transaction's quantity is the whole stock quantity. */
  private setHold(atMs: number, hold: boolean): ActivityEvent {
    const { store, prng } = this;
    const candidates = store.stocks
      .all()
      .filter((s) => (hold ? s.status === "available" && s.quantity > 0 : s.status === "held"));
    const stock = prng.pick(candidates);
    const now = isoSeconds(atMs);
    stock.status = hold ? "held" : "available";
    stock.updated_at = now;
    const txn = this.addTransaction(
      { stock, goodsOutId: null, user: prng.pick(store.userIds), now },
      hold ? TRANSACTION_SUBTYPE.hold : TRANSACTION_SUBTYPE.offHold,
      TRANSACTION_CATEGORY.status,
      stock.quantity,
      { from: stock.location_id, to: stock.location_id },
    );
    const event = hold ? SIM_EVENTS.stockPlacedOnHold : SIM_EVENTS.stockReleasedFromHold;
    return { event, recordId: txn.id, body: transactionBody(store, txn), occurredAtMs: atMs };
  }

  private keepBacklog(atMs: number): void {
    const { store } = this;
    const openOrders = store.goodsOuts
      .all()
      .filter((o) => o.goods_out_status_id !== GOODS_OUT_STATUS_ID.completed && o.goods_out_status_id !== 8);
    for (let n = openOrders.length; n < OPEN_BACKLOG; n++) this.createOpenOrder(atMs);
    const openReceipts = store.receipts.all().filter((r) => r.status !== "completed");
    for (let n = openReceipts.length; n < OPEN_BACKLOG; n++) this.createOpenReceipt(atMs);
  }

  private addTransaction(
    ctx: { stock: Stock; goodsOutId: number | null; user: number; now: string },
    subtype: string,
    category: string,
    quantity: number,
    move: { from: number | null; to: number | null },
  ): Transaction {
    return this.store.transactions.insert({
      subtype,
      category,
      quantity,
      new_quantity: ctx.stock.quantity,
      created_at: ctx.now,
      product_id: ctx.stock.product_id,
      account_id: ctx.stock.account_id,
      warehouse_id: ctx.stock.warehouse_id,
      stock_id: ctx.stock.id,
      location_from_id: move.from,
      location_to_id: move.to,
      goods_out_id: ctx.goodsOutId,
      completing_user_id: ctx.user,
      archived: false,
    });
  }

  private addTask(
    base: Pick<
      Task,
      "product_id" | "account_id" | "warehouse_id" | "goods_out_id" | "goods_in_receipt_line_id" | "priority"
    >,
    typeCode: string,
    createdMs: number,
    completedAt: string,
    start: number,
    confirmed: number,
    move: { from: number | null; to: number | null },
  ): Task {
    return this.store.tasks.insert({
      ...base,
      status: TASK_STATUS.completed,
      subtype: "STANDARD",
      task_type_code: typeCode,
      start_quantity: start,
      confirmed_quantity: confirmed,
      created_at: isoSeconds(createdMs),
      assigned_at: isoSeconds(createdMs),
      completed_at: completedAt,
      load_id: null,
      location_from_id: move.from,
      location_to_id: move.to,
      drop_sequence: 0,
    });
  }
}
