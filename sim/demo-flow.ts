/**
 * The demo's flow: webhook-in and three polls into the four event filters, each into a debug node and a
 * clarus-confirm. The connection delivers on-confirm, so an event is done only once it was shown.
 */
export interface DemoFlowOptions {
  apiUrl: string;
  subdomain: string;
  domain: string;
  automations: { id: string; event: string }[];
  /** Where the simulator reaches Node-RED: the webhook node registers its automations there. */
  publicUrl: string;
  /** The events the webhook node registers with the simulator. */
  register: string[];
}

type FlowNode = Record<string, unknown>;

/**
 * Node centres (Node-RED places a node by its centre): sources, filters, then debug and confirm, one row per
 * event kind. The whole flow, the debug buttons and the widest names included, fits the workspace of a
 * 1600x1000 editor window beside the sidebar at the default zoom, as `npm run screenshots` checks.
 */
const COLUMN = { source: 190, filter: 540, sink: 840 };
const ROW = (i: number) => 120 + i * 60;

export function demoFlow(options: DemoFlowOptions): FlowNode[] {
  const tab = "clarus-demo-tab";
  const filters = ["dispatched", "goods-in", "adjustment", "hold"];
  const node = (id: string, type: string, x: number, y: number, props: FlowNode = {}): FlowNode => ({
    id,
    type,
    z: tab,
    x,
    y,
    ...props,
  });
  const debug = (id: string, name: string, y: number) =>
    node(id, "debug", COLUMN.sink, y, {
      name,
      active: true,
      tosidebar: true,
      console: false,
      complete: "true",
      wires: [],
    });
  return [
    { id: tab, type: "tab", label: "Clarus demo" },
    {
      id: "demo-connection",
      type: "clarus-connection",
      name: "Simulated tenant",
      subdomain: options.subdomain,
      domain: options.domain,
      apiUrl: options.apiUrl,
      publicUrl: options.publicUrl,
      automations: options.automations,
      dedupeHours: 72,
      dedupeCapacity: 100000,
      delivery: "on-confirm",
      redeliverSeconds: 300,
      maxAttempts: 10,
    },
    node("demo-comment", "comment", 240, 40, {
      name: "Clarus WMS demo: webhooks plus a poll safety net",
      info:
        "The Clarus simulator posts each warehouse event to the webhook node. It drops 15% of them and " +
        "repeats 10% on purpose: the poll nodes read the Clarus GraphQL API every minute and recover what " +
        "was dropped, and the shared dedupe store makes sure each event reaches the debug sidebar once. " +
        "The connection delivers on-confirm: each event is kept on disk until the clarus-confirm node after " +
        "the filters sees it, and is sent again if Node-RED stops before that.",
    }),
    node("demo-webhook", "clarus-webhook-in", COLUMN.source, ROW(0), {
      name: "Clarus webhooks",
      connection: "demo-connection",
      path: "/clarus/events",
      method: "POST",
      event: "auto",
      automationIds: "",
      requireToken: true,
      allowIps: "",
      trustProxy: "none",
      maxBytes: 1048576,
      dedupe: true,
      duplicatesOutput: false,
      outputs: 1,
      register: options.register,
      wires: [filters],
    }),
    ...["goods_out.completed", "goods_in.completed", "stock.transactions"].map((stream, i) =>
      node(`demo-poll-${i}`, "clarus-poll", COLUMN.source, ROW(i + 1), {
        name: `Safety net: ${stream}`,
        connection: "demo-connection",
        stream,
        intervalMinutes: 1,
        lookbackMinutes: 5,
        pageSize: 100,
        maxPages: 1000,
        runOnStart: true,
        wires: [filters],
      }),
    ),
    node("dispatched", "clarus-sales-order-dispatched", COLUMN.filter, ROW(0), {
      name: "",
      otherOutput: false,
      outputs: 1,
      wires: [["debug-dispatched", "demo-confirm"]],
    }),
    node("goods-in", "clarus-goods-in-completed", COLUMN.filter, ROW(1), {
      name: "",
      otherOutput: false,
      outputs: 1,
      wires: [["debug-goods-in", "demo-confirm"]],
    }),
    node("adjustment", "clarus-stock-adjustment", COLUMN.filter, ROW(2), {
      name: "",
      direction: "both",
      otherOutput: false,
      outputs: 1,
      wires: [["debug-adjustment", "demo-confirm"]],
    }),
    node("hold", "clarus-stock-hold", COLUMN.filter, ROW(3), {
      name: "",
      change: "both",
      otherOutput: false,
      outputs: 1,
      wires: [["debug-hold", "demo-confirm"]],
    }),
    debug("debug-dispatched", "Sales order dispatched", ROW(0)),
    debug("debug-goods-in", "Goods-in completed", ROW(1)),
    debug("debug-adjustment", "Stock adjusted", ROW(2)),
    debug("debug-hold", "Stock hold changed", ROW(3)),
    node("demo-confirm", "clarus-confirm", COLUMN.sink, ROW(4) + 10, {
      name: "Shown: confirm",
      action: "confirm",
      retrySeconds: 60,
      wires: [[]],
    }),
  ];
}
