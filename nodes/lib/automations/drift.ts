import type { AutomationDetails, WantedAutomation } from "./documents";
import { splitEvent } from "./documents";
import type { Owned } from "./ownership";

/**
 * Drift: a registered automation changed in Clarus after the node registered it, so its webhook path went
 * silent or points elsewhere. Found by reading the node's automations back every `driftMinutes`, and repaired:
 * - `disabled`: enabled again (same id);
 * - `deleted`: created again (same name, new id);
 * - `re-pointed`: its webhook URL, method, trigger or webhook action changed; set back (same id). Seen only
 *   where Clarus shows an automation's actions; elsewhere only `disabled` and `deleted` can be seen.
 */
export type DriftKind = "disabled" | "deleted" | "re-pointed";

export const DRIFT_KINDS: readonly DriftKind[] = ["disabled", "deleted", "re-pointed"];

/** One automation put back as the node registered it. */
export interface DriftRepair {
  event: string;
  /** The automation that drifted: for a deleted one the id it had, when known. */
  automationId?: string;
  /** The automation that serves the event now, when it is another (a deleted one created again). */
  replacedBy?: string;
  kinds: DriftKind[];
  /** What changed, in words a user can act on; never a URL (it holds the token). */
  changes: string[];
}

/**
 * A connection's drift figures since it started, for status and metrics: checks made, checks whose read or
 * repair failed, checks left out because another instance on the store had just made them, and repairs by
 * kind (an automation both disabled and re-pointed counts once for each).
 */
export class DriftCounts {
  checks = 0;
  failedChecks = 0;
  checkedElsewhere = 0;
  readonly repairs: Record<DriftKind, number> = { disabled: 0, deleted: 0, "re-pointed": 0 };

  /** The repairs of every kind together. */
  get repaired(): number {
    return DRIFT_KINDS.reduce((sum, kind) => sum + this.repairs[kind], 0);
  }

  /** A check that read the automations back: what it repaired, and whether a repair failed. */
  checked(repairs: readonly DriftRepair[], repairFailed: boolean): void {
    this.checks++;
    if (repairFailed) this.failedChecks++;
    for (const repair of repairs) for (const kind of repair.kinds) this.repairs[kind]++;
  }

  /** A check left out: another instance checked the node less than a period ago. */
  leftOut(): void {
    this.checkedElsewhere++;
  }

  /** A check whose read failed: nothing was changed. */
  failed(): void {
    this.checks++;
    this.failedChecks++;
  }
}

/** How an automation drifted: the kinds, and what changed in words. */
export interface DriftFinding {
  kinds: DriftKind[];
  changes: string[];
}

/**
 * How the automation found for an event differs from what the node registered: undefined when it does not
 * (as far as Clarus shows: without `details` a changed URL cannot be seen). A missing one is `deleted`.
 */
export function driftOf(
  kept: Owned,
  details: AutomationDetails | undefined,
  wanted: WantedAutomation,
): DriftFinding | undefined {
  const kinds: DriftKind[] = [];
  const changes: string[] = [];
  if (!(details ? details.enabled : kept.enabled)) {
    kinds.push("disabled");
    changes.push("disabled");
  }
  const moved = details ? repointing(details, wanted) : [];
  if (moved.length > 0) {
    kinds.push("re-pointed");
    changes.push(...moved);
  }
  return kinds.length > 0 ? { kinds, changes } : undefined;
}

/** What of the webhook a read shows changed: its trigger, its action, its URL or method. */
function repointing(details: AutomationDetails, wanted: WantedAutomation): string[] {
  const changes: string[] = [];
  const [resource, event] = splitEvent(wanted.event);
  if (details.resourceName !== resource || details.event !== event) {
    changes.push("its trigger was changed");
  }
  const [first, ...others] = details.webhookActions;
  if (!first) return [...changes, "its webhook action was removed"];
  if (others.length > 0) changes.push("a second webhook action was added");
  const values = (code: string) => first.parameters.filter((p) => p.code === code).map((p) => p.value);
  const urls = values("webhook_url");
  if (urls.length !== 1 || urls[0] !== wanted.url) changes.push("its webhook URL was changed");
  const methods = values("webhook_method");
  if (methods.length !== 1 || methods[0]?.toUpperCase() !== wanted.method) {
    changes.push(`its webhook method is no longer ${wanted.method}`);
  }
  return changes;
}

/**
 * One line for the log: `automation 45 (goods_out.completed) was disabled in Clarus: enabled again`. It names
 * ids, the event and what changed; never the URL.
 */
export function describeRepair(repair: DriftRepair): string {
  const which = repair.automationId
    ? `automation ${repair.automationId} (${repair.event})`
    : `the automation of ${repair.event}`;
  const created = repair.replacedBy ?? "a new one";
  if (repair.kinds.includes("deleted")) {
    return repair.automationId
      ? `${which} was deleted in Clarus: created again as ${created}`
      : `${which} was missing in Clarus: created as ${created}`;
  }
  // Where Clarus shows no actions, one whose target is not known is replaced rather than patched.
  const done = (patched: string) => (repair.replacedBy ? `replaced by ${repair.replacedBy}` : patched);
  const changed = repair.changes.filter((change) => change !== "disabled");
  const disabled = repair.kinds.includes("disabled");
  if (changed.length === 0) return `${which} was disabled in Clarus: ${done("enabled again")}`;
  const what = [...(disabled ? ["disabled"] : []), ...changed].join("; ");
  return `${which} was changed in Clarus (${what}): ${done(disabled ? "set back and enabled again" : "set back")}`;
}
