import { GOODS_OUT_STATUSES } from "./constants";
import type { Prng } from "./prng";
import { DAY_MS, isoSeconds } from "./time";
import type {
  Automation,
  GoodsOut,
  GoodsOutLine,
  GoodsOutStatus,
  Location,
  Party,
  Product,
  Receipt,
  ReceiptLine,
  Row,
  Stock,
  StorageUnit,
  Task,
  Transaction,
} from "./types";

/**
 * One table: rows kept in id order because ids only grow. Paging relies on that order, and a record
 * inserted while a client pages always lands after the client's cursor.
 */
export class Table<T extends Row> {
  private readonly rows: T[] = [];
  private readonly index = new Map<number, T>();
  private nextId: number;

  constructor(firstId: number) {
    this.nextId = firstId;
  }

  insert(fields: Omit<T, "id">): T {
    const row = { id: this.nextId++, ...fields } as T;
    this.rows.push(row);
    this.index.set(row.id, row);
    return row;
  }

  get(id: number): T | undefined {
    return this.index.get(id);
  }

  all(): readonly T[] {
    return this.rows;
  }

  remove(id: number): boolean {
    const row = this.index.get(id);
    if (!row) return false;
    this.index.delete(id);
    this.rows.splice(this.rows.indexOf(row), 1);
    return true;
  }

  get size(): number {
    return this.rows.length;
  }
}

/** Bays every warehouse has besides its storage locations. */
export const BAY = { goodsIn: "GOODSIN", despatch: "DESPATCH" } as const;

/**
 * The whole simulated tenant. Id ranges differ per table so a test that mixes up record kinds fails
 * loudly instead of finding a row by accident.
 */
export class Store {
  readonly accounts = new Table<Party>(1);
  readonly warehouses = new Table<Party>(11);
  readonly products = new Table<Product>(101);
  readonly locations = new Table<Location>(501);
  readonly storageUnits = new Table<StorageUnit>(20001);
  readonly stocks = new Table<Stock>(30001);
  readonly goodsOutStatuses = new Table<GoodsOutStatus>(1);
  readonly goodsOuts = new Table<GoodsOut>(1001);
  readonly goodsOutLines = new Table<GoodsOutLine>(5001);
  readonly receipts = new Table<Receipt>(2001);
  readonly receiptLines = new Table<ReceiptLine>(7001);
  readonly tasks = new Table<Task>(50001);
  readonly transactions = new Table<Transaction>(900001);
  readonly automations = new Table<Automation>(41);
  readonly customerIds = [3001, 3002, 3003, 3004, 3005, 3006];
  readonly supplierIds = [4001, 4002, 4003, 4004];
  readonly userIds = [61, 62, 63];

  /** Master data and stock: what exists before any activity. */
  seed(prng: Prng, nowMs: number): void {
    for (const status of GOODS_OUT_STATUSES)
      this.goodsOutStatuses.insert({ code: status.code, name: status.name });
    const accounts = [
      ["ACME", "Acme Retail"],
      ["BOLT", "Bolt Hardware"],
      ["CRUX", "Crux Outdoor"],
    ];
    for (const [code, name] of accounts) this.accounts.insert({ code: code as string, name: name as string });
    for (const [code, name] of [
      ["LON1", "London DC"],
      ["MAN1", "Manchester DC"],
    ]) {
      const warehouse = this.warehouses.insert({ code: code as string, name: name as string });
      this.locations.insert({ code: `${warehouse.code}-${BAY.goodsIn}`, warehouse_id: warehouse.id });
      this.locations.insert({ code: `${warehouse.code}-${BAY.despatch}`, warehouse_id: warehouse.id });
      for (let aisle = 0; aisle < 4; aisle++) {
        for (let bin = 1; bin <= 5; bin++) {
          const code = `${warehouse.code}-${String.fromCharCode(65 + aisle)}-${String(bin).padStart(2, "0")}`;
          this.locations.insert({ code, warehouse_id: warehouse.id });
        }
      }
    }
    for (const account of this.accounts.all()) {
      for (let n = 1; n <= 6; n++) {
        const code = `${account.code}-SKU-${String(n).padStart(3, "0")}`;
        this.products.insert({ code, name: `${account.name} item ${n}`, account_id: account.id });
      }
    }
    for (const product of this.products.all()) {
      for (const warehouse of this.warehouses.all()) {
        const count = prng.int(1, 2);
        for (let n = 0; n < count; n++) {
          const at = isoSeconds(nowMs - prng.int(5, 60) * DAY_MS);
          this.addStock(
            product,
            warehouse.id,
            this.pickStorageLocation(prng, warehouse.id),
            prng.int(50, 300),
            at,
          );
        }
      }
    }
  }

  addStock(product: Product, warehouseId: number, location: Location, quantity: number, at: string): Stock {
    const unit = this.storageUnits.insert({ reference: "" });
    unit.reference = `SU${String(unit.id).padStart(8, "0")}`;
    return this.stocks.insert({
      product_id: product.id,
      location_id: location.id,
      account_id: product.account_id,
      warehouse_id: warehouseId,
      storage_unit_id: unit.id,
      quantity,
      status: "available",
      fifo_date: at,
      created_at: at,
      updated_at: at,
    });
  }

  pickStorageLocation(prng: Prng, warehouseId: number): Location {
    const storage = this.locations
      .all()
      .filter(
        (l) =>
          l.warehouse_id === warehouseId && !l.code.endsWith(BAY.goodsIn) && !l.code.endsWith(BAY.despatch),
      );
    return prng.pick(storage);
  }

  bay(warehouseId: number, bay: string): Location {
    const found = this.locations
      .all()
      .find((l) => l.warehouse_id === warehouseId && l.code.endsWith(`-${bay}`));
    if (!found) throw new Error(`warehouse ${warehouseId} has no ${bay} bay`);
    return found;
  }

  productsOf(accountId: number): Product[] {
    return this.products.all().filter((p) => p.account_id === accountId);
  }

  requireAccount(id: number): Party {
    return this.require(this.accounts, id, "account");
  }

  requireWarehouse(id: number): Party {
    return this.require(this.warehouses, id, "warehouse");
  }

  requireProduct(id: number): Product {
    return this.require(this.products, id, "product");
  }

  private require<T extends Row>(table: Table<T>, id: number, what: string): T {
    const row = table.get(id);
    if (!row) throw new Error(`store has no ${what} ${id}`);
    return row;
  }
}
