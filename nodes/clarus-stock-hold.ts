import type { Node, NodeAPI } from "node-red";

import { attachEventFilter, StockHoldDef, stockHoldRule } from "./lib/filter/event-filter";
import { upgraded, versionSettings } from "./lib/node-versions";

export = (RED: NodeAPI) => {
  function ClarusStockHold(this: Node, saved: StockHoldDef) {
    RED.nodes.createNode(this, saved);
    const def = upgraded(this, "clarus-stock-hold", saved);
    attachEventFilter(this, def, stockHoldRule);
  }

  RED.nodes.registerType("clarus-stock-hold", ClarusStockHold, {
    settings: versionSettings("clarus-stock-hold"),
  });
};
