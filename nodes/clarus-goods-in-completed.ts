import type { Node, NodeAPI } from "node-red";

import { attachEventFilter, FilterDef, goodsInCompletedRule } from "./lib/filter/event-filter";
import { upgraded, versionSettings } from "./lib/node-versions";

export = (RED: NodeAPI) => {
  function ClarusGoodsInCompleted(this: Node, saved: FilterDef) {
    RED.nodes.createNode(this, saved);
    const def = upgraded(this, "clarus-goods-in-completed", saved);
    attachEventFilter(this, def, goodsInCompletedRule);
  }

  RED.nodes.registerType("clarus-goods-in-completed", ClarusGoodsInCompleted, {
    settings: versionSettings("clarus-goods-in-completed"),
  });
};
