import type { Node, NodeAPI } from "node-red";

import { attachEventFilter, StockAdjustmentDef, stockAdjustmentRule } from "./lib/filter/event-filter";

export = (RED: NodeAPI) => {
  function ClarusStockAdjustment(this: Node, def: StockAdjustmentDef) {
    RED.nodes.createNode(this, def);
    attachEventFilter(this, def, stockAdjustmentRule);
  }

  RED.nodes.registerType("clarus-stock-adjustment", ClarusStockAdjustment);
};
