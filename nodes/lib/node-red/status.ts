import type { Node, NodeStatus } from "node-red";

/** Every status a clarus node shows; node code never writes fill/shape literals, so states look alike. */
export const STATUS = {
  ok: (text: string): NodeStatus => ({ fill: "green", shape: "dot", text }),
  working: (text: string): NodeStatus => ({ fill: "blue", shape: "ring", text }),
  degraded: (text: string): NodeStatus => ({ fill: "yellow", shape: "ring", text }),
  warning: (text: string): NodeStatus => ({ fill: "yellow", shape: "dot", text }),
  failed: (text: string): NodeStatus => ({ fill: "red", shape: "ring", text }),
  disabled: (text: string): NodeStatus => ({ fill: "grey", shape: "ring", text }),
};

/**
 * Coalesces status updates: a busy webhook would otherwise publish one editor message per request.
 * The latest status is shown at most every `intervalMs`.
 */
export class ThrottledStatus {
  private latest?: NodeStatus;
  private timer?: NodeJS.Timeout;
  private shown?: string;

  constructor(
    private readonly node: Pick<Node, "status">,
    private readonly intervalMs = 500,
  ) {}

  set(status: NodeStatus): void {
    this.latest = status;
    if (this.timer) return;
    this.show();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.show();
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private show(): void {
    if (!this.latest) return;
    const key = JSON.stringify(this.latest);
    if (key === this.shown) return;
    this.shown = key;
    this.node.status(this.latest);
  }
}
