import type { Node, NodeAPI } from "node-red";

import { attachEventFilter, EventListDef, eventListRule } from "./lib/filter/event-filter";
import { upgraded, versionSettings } from "./lib/node-versions";

export = (RED: NodeAPI) => {
  function ClarusEvent(this: Node, saved: EventListDef) {
    RED.nodes.createNode(this, saved);
    const def = upgraded(this, "clarus-event", saved);
    attachEventFilter(this, def, eventListRule);
  }

  RED.nodes.registerType("clarus-event", ClarusEvent, { settings: versionSettings("clarus-event") });
};
