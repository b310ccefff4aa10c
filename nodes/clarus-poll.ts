import type { Node, NodeAPI, NodeMessageInFlow } from "node-red";

import type { ClarusConnectionNode } from "./lib/connection/services";
import { nodeSender } from "./lib/delivery/sender";
import { TRANSACTION_SUBTYPE_EVENTS } from "./lib/events/classify";
import { adminPermission } from "./lib/node-red/admin-permission";
import { errorMessage, NotConfiguredError } from "./lib/node-red/errors";
import { closeReason } from "./lib/node-red/lifecycle";
import { reportStartFailure } from "./lib/node-red/start-failure";
import { upgraded, versionSettings } from "./lib/node-versions";
import { Poller } from "./lib/poll/poller";
import { type PollDef, pollSettings } from "./lib/poll/settings";

export = (RED: NodeAPI) => {
  function ClarusPoll(this: Node, saved: PollDef) {
    RED.nodes.createNode(this, saved);
    const def = upgraded(this, "clarus-poll", saved);
    let poller: Poller | undefined;
    let unregister = () => {};
    try {
      const connection = RED.nodes.getNode(def.connection) as ClarusConnectionNode | null;
      if (!connection?.services) throw new NotConfiguredError("no clarus-connection is configured");
      const services = connection.services;
      const settings = pollSettings(def, (message) => this.warn(message));
      poller = new Poller(this, services, services.api, settings, () => RED.util.generateId());
      // Its unconfirmed records (on-confirm) are sent again from this node.
      unregister = services.delivery.registerSender(this.id, nodeSender(this));
      poller.start();
    } catch (error) {
      reportStartFailure(this, "not polling", error);
    }

    this.on("input", (msg: NodeMessageInFlow, _send: unknown, done: (error?: Error) => void) => {
      if (!poller) return done(new Error("the poll node is not configured"));
      const since = (msg as { since?: unknown }).since;
      if (since === undefined || since === null || since === "") return poller.request({ msg, done });
      const parsed = since instanceof Date ? since.getTime() : Date.parse(String(since));
      if (Number.isNaN(parsed)) return done(new Error(`msg.since ${JSON.stringify(since)} is not a date`));
      poller.request({ msg, done, since: new Date(parsed).toISOString() });
    });

    this.on("close", (removed: boolean, done: () => void) => {
      unregister();
      if (!poller) return done();
      poller.stop(closeReason(RED, this, removed)).then(done, (error: unknown) => {
        this.error(errorMessage(error));
        done();
      });
    });
  }

  RED.nodes.registerType("clarus-poll", ClarusPoll, { settings: versionSettings("clarus-poll") });

  // Poll now, from the editor's Clarus tab: a run as an input message would start it.
  RED.httpAdmin.post("/clarus-wms/nodes/:id/poll", adminPermission(RED, "clarus-poll.write"), (req, res) => {
    const node = RED.nodes.getNode(String(req.params.id));
    if (!node || node.type !== "clarus-poll") {
      res.status(404).json({ error: `no deployed clarus-poll ${req.params.id}` });
      return;
    }
    node.receive({});
    res.json({ started: true });
  });

  // The dialog shows the built-in subtype guesses of a node that has no map of its own.
  RED.httpAdmin.get("/clarus-wms/subtypes", adminPermission(RED, "clarus-poll.read"), (_req, res) => {
    res.json(TRANSACTION_SUBTYPE_EVENTS);
  });
};
