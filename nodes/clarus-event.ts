import type { Node, NodeAPI } from "node-red";

import { attachEventFilter, EventListDef, eventListRule } from "./lib/filter/event-filter";

export = (RED: NodeAPI) => {
  function ClarusEvent(this: Node, def: EventListDef) {
    RED.nodes.createNode(this, def);
    attachEventFilter(this, def, eventListRule);
  }

  RED.nodes.registerType("clarus-event", ClarusEvent);
};
