import type { Node, NodeAPI } from "node-red";

import { attachEventFilter, FilterDef, salesOrderDispatchedRule } from "./lib/filter/event-filter";

export = (RED: NodeAPI) => {
  function ClarusSalesOrderDispatched(this: Node, def: FilterDef) {
    RED.nodes.createNode(this, def);
    attachEventFilter(this, def, salesOrderDispatchedRule);
  }

  RED.nodes.registerType("clarus-sales-order-dispatched", ClarusSalesOrderDispatched);
};
