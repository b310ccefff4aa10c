import type { Node, NodeDef, NodeMessage } from "node-red";

import { isPlainObject } from "../json";
import { ConfigError, errorMessage } from "../node-red/errors";
import { STATUS, ThrottledStatus } from "../node-red/status";
import type { Delivery } from "./delivery";

export interface ConfirmDef extends NodeDef {
  action?: string;
  retrySeconds?: number | string;
}

export type ConfirmAction = "confirm" | "retry";

export interface ConfirmSettings {
  action: ConfirmAction;
  /** `retry` only: how long the event waits before it is sent again. */
  retryMs: number;
}

export const DEFAULT_RETRY_SECONDS = 60;

export function confirmSettings(def: ConfirmDef): ConfirmSettings {
  const action = String(def.action || "confirm");
  if (action !== "confirm" && action !== "retry") {
    throw new ConfigError(`action must be confirm or retry, not ${JSON.stringify(action)}`);
  }
  const raw = def.retrySeconds;
  const seconds = raw === undefined || raw === "" ? DEFAULT_RETRY_SECONDS : Number(raw);
  if (!Number.isFinite(seconds) || seconds < 0) throw new ConfigError("retrySeconds must be 0 or more");
  return { action, retryMs: seconds * 1000 };
}

/**
 * One clarus-confirm node: tells the inbox of the message's connection that its event is done (`confirm`)
 * or should be sent again after `retryMs` (`retry`, for a Catch → clarus-confirm path), then passes the
 * message on. A key the inbox does not hold (confirmed before, an on-receipt connection, a message whose
 * connection is not deployed) is a no-op with a debug log.
 */
export class Confirmer {
  private readonly status: ThrottledStatus;
  private handled = 0;
  private warnedOnReceipt = false;

  constructor(
    private readonly node: Node,
    private readonly settings: ConfirmSettings,
    /** The delivery of the deployed clarus-connection with this id. */
    private readonly findDelivery: (connectionId: string) => Delivery | undefined,
  ) {
    this.status = new ThrottledStatus(node);
  }

  /** Rejects with the reason for `done(err)`; the message is not passed on then. */
  async handle(msg: NodeMessage): Promise<void> {
    const clarus = (msg as { clarus?: unknown }).clarus;
    const meta = isPlainObject(clarus) ? clarus : {};
    const key = typeof meta.inboxKey === "string" ? meta.inboxKey : meta.dedupeKey;
    if (typeof key !== "string" || key === "") {
      throw new Error(
        "msg.clarus.dedupeKey is missing: clarus-confirm takes messages from clarus-webhook-in or clarus-poll",
      );
    }
    // No connection, or one no longer deployed (a hand-made or replayed message): no inbox holds the key.
    const connectionId = typeof meta.connection === "string" ? meta.connection : "";
    const delivery = connectionId ? this.findDelivery(connectionId) : undefined;
    if (!delivery) {
      this.node.debug(
        `${this.settings.action}: ${key} has no deployed clarus-connection (${connectionId || "none"})`,
      );
      return this.count();
    }
    const done =
      this.settings.action === "confirm"
        ? await delivery.confirm(key)
        : await delivery.retry(key, this.settings.retryMs, failureOf(msg));
    if (!done) {
      this.node.debug(
        `${this.settings.action}: ${key} is not pending in the inbox (confirmed before, or unknown)`,
      );
      if (this.settings.action === "retry" && !delivery.onConfirm && !this.warnedOnReceipt) {
        this.warnedOnReceipt = true;
        this.node.warn("retry has no effect: the connection delivers on-receipt; set it to on-confirm");
      }
    }
    this.count();
  }

  private count(): void {
    this.handled++;
    const verb = this.settings.action === "confirm" ? "confirmed" : "retried";
    this.status.set(STATUS.ok(`${this.handled} ${verb}`));
  }

  failed(error: unknown): void {
    this.status.set(STATUS.failed(errorMessage(error).slice(0, 40)));
  }

  close(): void {
    this.status.stop();
  }
}

/** What a Catch node put in `msg.error`, kept as the entry's last error. */
function failureOf(msg: NodeMessage): string | undefined {
  const error = (msg as { error?: unknown }).error;
  if (isPlainObject(error) && typeof error.message === "string") return error.message;
  return typeof error === "string" ? error : undefined;
}
