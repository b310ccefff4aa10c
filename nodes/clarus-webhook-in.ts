import type { Node, NodeAPI } from "node-red";

import type { ClarusConnectionNode } from "./lib/connection/services";
import { errorMessage, NotConfiguredError } from "./lib/node-red/errors";
import { reportStartFailure } from "./lib/node-red/start-failure";
import { webhookRoutesFor } from "./lib/webhook/route-registry";
import { STATUS } from "./lib/node-red/status";
import { WebhookInDef, WebhookReceiver, webhookSettings } from "./lib/webhook/receiver";

export = (RED: NodeAPI) => {
  function ClarusWebhookIn(this: Node, def: WebhookInDef) {
    RED.nodes.createNode(this, def);
    let receiver: WebhookReceiver | undefined;
    if (RED.settings.httpNodeRoot === false) {
      this.warn("Node-RED's HTTP node app is disabled (httpNodeRoot: false); this endpoint is not served");
      this.status(STATUS.disabled("http disabled"));
    } else {
      const connection = RED.nodes.getNode(def.connection) as ClarusConnectionNode | null;
      try {
        if (!connection?.services) throw new NotConfiguredError("no clarus-connection is configured");
        const settings = webhookSettings(def, connection.services);
        receiver = new WebhookReceiver(
          RED,
          this,
          connection.services,
          settings,
          webhookRoutesFor(RED.httpNode),
        );
      } catch (error) {
        reportStartFailure(this, "not listening", error);
      }
    }
    this.on("close", (done: () => void) => {
      if (!receiver) return done();
      receiver.close().then(done, (error: unknown) => {
        this.error(errorMessage(error));
        done();
      });
    });
  }

  RED.nodes.registerType("clarus-webhook-in", ClarusWebhookIn);
};
