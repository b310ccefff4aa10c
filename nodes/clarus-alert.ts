import type { Node, NodeAPI } from "node-red";

import { Alerter } from "./lib/alert/alerter";
import { type AlertDef, alertRules, checkIntervalMs } from "./lib/alert/settings";
import type { ClarusConnectionNode } from "./lib/connection/services";
import { errorMessage, NotConfiguredError } from "./lib/node-red/errors";
import { reportStartFailure } from "./lib/node-red/start-failure";
import { STATUS } from "./lib/node-red/status";
import { upgraded, versionSettings } from "./lib/node-versions";

export = (RED: NodeAPI) => {
  function ClarusAlert(this: Node, saved: AlertDef) {
    RED.nodes.createNode(this, saved);
    const def = upgraded(this, "clarus-alert", saved);
    let alerter: Alerter | undefined;
    try {
      const rules = alertRules(def);
      const connection = RED.nodes.getNode(def.connection) as ClarusConnectionNode | null;
      if (!connection?.services) throw new NotConfiguredError("no clarus-connection is configured");
      // A connection not set up yet (an imported example's) has nothing to watch: "ok" would be a claim.
      if (!connection.services.subdomain) throw new NotConfiguredError("the connection has no subdomain");
      const tuning = (RED.settings as { clarus?: { alertCheckSeconds?: unknown } }).clarus;
      alerter = new Alerter(this, connection.services, rules, checkIntervalMs(tuning));
      alerter.start();
    } catch (error) {
      if (error instanceof NotConfiguredError) reportStartFailure(this, "not watching", error);
      else {
        const message = `not watching: ${errorMessage(error)}`;
        this.status(STATUS.failed(errorMessage(error).slice(0, 40)));
        // With a message, so a Catch node sees it; once the flow has started, so a Catch node exists to see it.
        setImmediate(() => this.error(message, { topic: "config", payload: { error: message } }));
      }
    }

    this.on("close", (done: () => void) => {
      alerter?.close();
      done();
    });
  }

  RED.nodes.registerType("clarus-alert", ClarusAlert, { settings: versionSettings("clarus-alert") });
};
