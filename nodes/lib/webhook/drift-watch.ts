import type { Node } from "node-red";

import { describeRepair } from "../automations/drift";
import type {
  DriftReport,
  EnsureRequest,
  RegistrationItem,
  RegistrationReport,
} from "../automations/registration";
import type { ConnectionServices } from "../connection/services";
import { errorMessage } from "../node-red/errors";
import { redactToken } from "../node-red/redact";
import { STATUS } from "../node-red/status";

/** What the watch tells its node: the registration shows its status through it. */
export interface DriftWatchHooks {
  /** The status the node shows while nothing is wrong: `registered 3 event(s)`. */
  registeredStatus(): void;
  /** Apply what a check made or removed to the connection's automation map. */
  applied(report: RegistrationReport): void;
}

/**
 * Reads a webhook-in node's registered automations back every `driftMinutes` and repairs the ones changed in
 * Clarus (`AutomationRegistrar.checkDrift`). Started once the node's registration has run, stopped when the node
 * closes, whatever the reason: a redeploy starts the next node's watch, never a second one beside it. Each repair
 * is a warning naming the automation, its event and what changed (never the URL, which holds the token), and
 * shows in the status until a check finds nothing to repair. A check that fails is warned about once, until one
 * succeeds, and made again a period later.
 */
export class DriftWatch {
  private timer?: NodeJS.Timeout;
  private readonly abort = new AbortController();
  private stopped = false;
  /** The automation serving each event, as the last registration or check left it. */
  private readonly expected = new Map<string, string>();
  /** The failure last warned about, until a check succeeds; warned again only when it is another. */
  private failure?: string;
  /** The status shows a repair or a failure, to be cleared by the next clean check. */
  private flagged = false;

  constructor(
    private readonly node: Node,
    private readonly services: ConnectionServices,
    private readonly request: EnsureRequest,
    private readonly periodMs: number,
    private readonly hooks: DriftWatchHooks,
  ) {}

  /** The first check is a period after the registration that `report` tells of. */
  start(report: RegistrationReport): void {
    this.learn(report.items);
    this.schedule(this.periodMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort(new Error("the node is closing"));
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.check();
    }, delayMs);
  }

  private async check(): Promise<void> {
    let report: DriftReport;
    try {
      report = await this.services.registrar.checkDrift({
        ...this.request,
        periodMs: this.periodMs,
        expected: this.expected,
        signal: this.abort.signal,
      });
    } catch (error) {
      // Not expected (checkDrift reports its failures); never left unhandled, and tried again.
      report = { outcome: "failed", error: errorMessage(error) };
    }
    if (this.stopped) return;
    switch (report.outcome) {
      case "cancelled":
        return;
      case "recent":
        // Another instance checked: the next check is a period after its check, wherever it ran.
        return this.schedule(Math.max(this.services.leaseMs / 2, report.at + this.periodMs - Date.now()));
      case "failed":
        this.failed(report.error);
        return this.schedule(this.periodMs);
      case "checked":
        this.checked(report);
        return this.schedule(this.periodMs);
    }
  }

  private checked(report: Extract<DriftReport, { outcome: "checked" }>): void {
    this.hooks.applied({ items: report.items });
    this.services.automationStates.checked(this.node.id, report.items, report.repairs);
    this.learn(report.items);
    for (const repair of report.repairs) this.node.warn(this.redacted(describeRepair(repair)));
    const failed = report.items.filter((item) => item.outcome === "failed");
    if (failed.length > 0) {
      const text = failed.map((item) => `${item.event}: ${item.error ?? "unknown error"}`).join("; ");
      this.failed(`could not repair ${text}`);
    } else if (this.failure !== undefined) {
      this.node.log("its Clarus automations could be checked again");
      this.failure = undefined;
    }
    if (report.repairs.length > 0) {
      const time = new Date().toISOString().slice(11, 16);
      this.node.status(STATUS.warning(`${time} repaired ${report.repairs.length} automation(s)`));
      this.flagged = true;
    } else if (failed.length === 0 && this.flagged) {
      this.flagged = false;
      this.hooks.registeredStatus();
    }
  }

  private failed(error: string): void {
    const text = this.redacted(error);
    if (text === this.failure) return;
    this.failure = text;
    const every = this.periodMs / 60_000;
    this.node.warn(`could not check its Clarus automations: ${text}; trying again every ${every} min`);
    this.node.status(STATUS.degraded("automation check failed"));
    this.flagged = true;
  }

  private learn(items: readonly RegistrationItem[]): void {
    for (const item of items) {
      const serving = item.outcome === "exists" || item.outcome === "created" || item.outcome === "updated";
      if (serving && item.automationId !== undefined) this.expected.set(item.event, item.automationId);
    }
  }

  private redacted(text: string): string {
    return redactToken(text, this.request.secret);
  }
}
