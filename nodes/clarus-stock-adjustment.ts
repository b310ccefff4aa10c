import type { Node, NodeAPI } from "node-red";

import { attachEventFilter, StockAdjustmentDef, stockAdjustmentRule } from "./lib/filter/event-filter";
import { upgraded, versionSettings } from "./lib/node-versions";

export = (RED: NodeAPI) => {
  function ClarusStockAdjustment(this: Node, saved: StockAdjustmentDef) {
    RED.nodes.createNode(this, saved);
    const def = upgraded(this, "clarus-stock-adjustment", saved);
    attachEventFilter(this, def, stockAdjustmentRule);
  }

  RED.nodes.registerType("clarus-stock-adjustment", ClarusStockAdjustment, {
    settings: versionSettings("clarus-stock-adjustment"),
  });
};
