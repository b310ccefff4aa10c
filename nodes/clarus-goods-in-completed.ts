import type { Node, NodeAPI } from "node-red";

import { attachEventFilter, FilterDef, goodsInCompletedRule } from "./lib/filter/event-filter";

export = (RED: NodeAPI) => {
  function ClarusGoodsInCompleted(this: Node, def: FilterDef) {
    RED.nodes.createNode(this, def);
    attachEventFilter(this, def, goodsInCompletedRule);
  }

  RED.nodes.registerType("clarus-goods-in-completed", ClarusGoodsInCompleted);
};
