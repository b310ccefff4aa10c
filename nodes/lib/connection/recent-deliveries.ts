import type { IncomingHttpHeaders } from "node:http";

import type { ClarusMessage } from "../events/message";
import type { JsonObject } from "../json";
import { isPlainObject } from "../json";
import { redactTokenDeep } from "../node-red/redact";

/** The default of webhook-in's `captureCount`: how many accepted deliveries each node keeps to show. */
export const DEFAULT_CAPTURE_COUNT = 20;
/** The most a node keeps: each holds a body of up to `maxBytes`. */
export const MAX_CAPTURE_COUNT = 200;

/** Request headers that carry credentials of their own: never kept, whatever they hold. */
const DROPPED_HEADERS = new Set(["authorization", "proxy-authorization", "cookie"]);

/** One accepted webhook delivery as the editor shows it: the token is out of every part. */
export interface RecentDelivery {
  id: string;
  node: string;
  receivedAt: string;
  event: string;
  automationId?: string;
  duplicate: boolean;
  headers: Record<string, unknown>;
  payload: unknown;
}

interface Captured {
  id: string;
  node: string;
  at: number;
  /** The order of arrival across the connection's nodes (many arrive within one millisecond). */
  seq: number;
  /** The body as received (an immutable Buffer, or the GET query's payload as JSON): the flow may change msg.payload. */
  body: Buffer | string;
  headers: Record<string, string | string[] | undefined>;
  /** `msg.clarus` as sent, copied. */
  clarus: ClarusMessage["clarus"];
  topic: string;
}

/**
 * The last accepted deliveries of each webhook-in node of one connection, in memory only (payloads carry
 * addresses): a node keeps its last `captureCount`, and forgets them when it closes (a redeploy). Capturing
 * keeps references to what the request already holds; the body is parsed, and the token taken out, only
 * when someone reads the list, so a busy webhook pays nothing for it.
 */
export class RecentDeliveries {
  private readonly byNode = new Map<string, Captured[]>();
  private seq = 0;

  constructor(private readonly token: () => string | undefined) {}

  capture(
    nodeId: string,
    capacity: number,
    delivery: { headers: IncomingHttpHeaders; body: Buffer | string; msg: ClarusMessage },
  ): void {
    if (capacity <= 0) return;
    const headers: Captured["headers"] = {};
    for (const [name, value] of Object.entries(delivery.headers)) {
      if (!DROPPED_HEADERS.has(name)) headers[name] = value;
    }
    let list = this.byNode.get(nodeId);
    if (!list) this.byNode.set(nodeId, (list = []));
    list.push({
      id: String(delivery.msg._msgid),
      node: nodeId,
      at: Date.now(),
      seq: ++this.seq,
      body: delivery.body,
      headers,
      clarus: { ...delivery.msg.clarus },
      topic: delivery.msg.topic,
    });
    if (list.length > capacity) list.splice(0, list.length - capacity);
  }

  /** The node closed: what it captured goes with it. */
  forget(nodeId: string): void {
    this.byNode.delete(nodeId);
  }

  /** Every node's deliveries, newest first. */
  list(): RecentDelivery[] {
    const all = [...this.byNode.values()].flat().sort((a, b) => b.seq - a.seq);
    return all.map((captured) => this.view(captured));
  }

  /** One delivery as a message to send again: marked replayed, with its own id; undefined when not kept. */
  message(id: string, newId: string): { node: string; msg: ClarusMessage } | undefined {
    for (const list of this.byNode.values()) {
      const captured = list.find((item) => item.id === id);
      if (!captured) continue;
      const { payload } = this.view(captured);
      const clarus = redactTokenDeep(captured.clarus, this.token()) as ClarusMessage["clarus"];
      return {
        node: captured.node,
        msg: {
          _msgid: newId,
          topic: captured.topic,
          payload: isPlainObject(payload) ? payload : {},
          clarus: { ...clarus, duplicate: false, replayed: true },
        },
      };
    }
    return undefined;
  }

  private view(captured: Captured): RecentDelivery {
    const token = this.token();
    let payload: unknown;
    try {
      payload = JSON.parse(captured.body.toString());
    } catch {
      payload = {};
    }
    return {
      id: captured.id,
      node: captured.node,
      receivedAt: new Date(captured.at).toISOString(),
      event: captured.clarus.event,
      automationId: captured.clarus.automationId,
      duplicate: captured.clarus.duplicate,
      headers: redactTokenDeep(captured.headers, token) as Record<string, unknown>,
      payload: redactTokenDeep(payload as JsonObject, token),
    };
  }
}
