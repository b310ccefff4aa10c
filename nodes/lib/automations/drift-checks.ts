import { isPlainObject } from "../json";
import { StoreUnavailableError } from "../store/connection-store";
import { type Documents, safeFileName } from "../store/connection-store";

/**
 * When a node's automations were last read back for drift, as a document of the connection's store
 * (`drift-<node id>`): with Redis every instance sees it, so the instances that run the same flows check a node
 * once per period between them, not once each. Written in the clock of the instance that checked.
 */
export class DriftChecks {
  constructor(private readonly documents: Documents) {}

  /** Epoch ms of the node's last check; undefined when there was none (or the document is not one). */
  async lastCheck(nodeId: string): Promise<number | undefined> {
    let value: unknown;
    try {
      value = await this.documents.readDocument(driftCheckName(nodeId));
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      return undefined;
    }
    const at =
      isPlainObject(value) && typeof value.checkedAt === "string" ? Date.parse(value.checkedAt) : NaN;
    return Number.isFinite(at) ? at : undefined;
  }

  record(nodeId: string, atMs: number): Promise<void> {
    return this.documents.writeDocument(driftCheckName(nodeId), { checkedAt: new Date(atMs).toISOString() });
  }

  /** The node was deleted: its record goes with its automations. */
  forget(nodeId: string): Promise<void> {
    return this.documents.removeDocument(driftCheckName(nodeId));
  }
}

/** The document of a node's last drift check; on files, `clarus/drift-<node id>.json`. */
export function driftCheckName(nodeId: string): string {
  return `drift-${safeFileName(nodeId)}`;
}

/**
 * Whether a check at `atMs` is recent enough for a timed check now to be left out. A little slack: a timer
 * fires a period after the check it follows ended, not a millisecond later.
 */
export function checkedWithin(atMs: number | undefined, periodMs: number, nowMs: number): boolean {
  return atMs !== undefined && nowMs - atMs < periodMs - Math.min(periodMs / 10, 60_000);
}
