import type { Node, NodeAPI } from "node-red";

import { attachEventFilter, FilterDef, salesOrderDispatchedRule } from "./lib/filter/event-filter";
import { upgraded, versionSettings } from "./lib/node-versions";

export = (RED: NodeAPI) => {
  function ClarusSalesOrderDispatched(this: Node, saved: FilterDef) {
    RED.nodes.createNode(this, saved);
    const def = upgraded(this, "clarus-sales-order-dispatched", saved);
    attachEventFilter(this, def, salesOrderDispatchedRule);
  }

  RED.nodes.registerType("clarus-sales-order-dispatched", ClarusSalesOrderDispatched, {
    settings: versionSettings("clarus-sales-order-dispatched"),
  });
};
