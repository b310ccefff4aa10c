import { type AutomationState } from "../metrics/counters";
import type { DriftRepair } from "./drift";
import type { RegistrationItem, RegistrationReport } from "./registration";

export type AutomationStateCounts = Record<AutomationState, number>;

/**
 * The registered automations of one connection's webhook-in nodes, by node and event, for metrics and alerts.
 * Each has the state the last registration or drift check of its node found: `ok` (as registered), `drifted`
 * (disabled or re-pointed in Clarus, and set back), `missing` (deleted in Clarus, and created again), `failed`
 * (could not be registered or repaired). A drifted or missing one stays so until the next check finds it as
 * registered, so a change made in Clarus shows for one drift period, not for an instant.
 */
export class AutomationStates {
  private readonly byNode = new Map<string, Map<string, AutomationState>>();

  /** A registration ended: one state per listed event; a lookup that failed fails every one of them. */
  registered(nodeId: string, events: readonly string[], report: RegistrationReport): void {
    const states = new Map<string, AutomationState>();
    const items = new Map(report.items.map((item) => [item.event, item]));
    for (const event of events) {
      const item = items.get(event);
      states.set(event, report.error !== undefined || !item || !serving(item) ? "failed" : "ok");
    }
    this.byNode.set(nodeId, states);
  }

  /** A drift check read the node's automations back: what it found, repaired or could not repair. */
  checked(nodeId: string, items: readonly RegistrationItem[], repairs: readonly DriftRepair[]): void {
    const states = new Map<string, AutomationState>();
    for (const item of items) {
      const repair = repairs.find((r) => r.event === item.event);
      if (!serving(item)) states.set(item.event, "failed");
      else if (repair) states.set(item.event, repair.kinds.includes("deleted") ? "missing" : "drifted");
      else states.set(item.event, "ok");
    }
    this.byNode.set(nodeId, states);
  }

  /** The node closed: its automations are no part of the connection's figures any more. */
  forget(nodeId: string): void {
    this.byNode.delete(nodeId);
  }

  /** Every registered automation: its node, its event and the state it was last found in. */
  list(): { node: string; event: string; state: AutomationState }[] {
    return [...this.byNode].flatMap(([node, states]) =>
      [...states].map(([event, state]) => ({ node, event, state })),
    );
  }

  counts(): AutomationStateCounts {
    const counts: AutomationStateCounts = { ok: 0, drifted: 0, missing: 0, failed: 0 };
    for (const states of this.byNode.values()) for (const state of states.values()) counts[state]++;
    return counts;
  }
}

function serving(item: RegistrationItem): boolean {
  return item.outcome === "exists" || item.outcome === "created" || item.outcome === "updated";
}
