import type { Node, NodeAPI } from "node-red";

import { attachEventFilter, StockHoldDef, stockHoldRule } from "./lib/filter/event-filter";

export = (RED: NodeAPI) => {
  function ClarusStockHold(this: Node, def: StockHoldDef) {
    RED.nodes.createNode(this, def);
    attachEventFilter(this, def, stockHoldRule);
  }

  RED.nodes.registerType("clarus-stock-hold", ClarusStockHold);
};
