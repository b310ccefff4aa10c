import type { Node, NodeAPI } from "node-red";

import { registerNow } from "./lib/admin/register-now-route";
import type { ClarusConnectionNode } from "./lib/connection/services";
import { adminPermission } from "./lib/node-red/admin-permission";
import { errorMessage, NotConfiguredError } from "./lib/node-red/errors";
import { closeReason } from "./lib/node-red/lifecycle";
import { reportStartFailure } from "./lib/node-red/start-failure";
import { STATUS } from "./lib/node-red/status";
import { upgraded, versionSettings } from "./lib/node-versions";
import { DedicatedEndpoint } from "./lib/webhook/dedicated-listener";
import type { WebhookEndpoint } from "./lib/webhook/endpoint";
import { listenerOptions, type ListenerSettingsDef } from "./lib/webhook/listener-settings";
import { WebhookReceiver } from "./lib/webhook/receiver";
import { WebhookSelfRegistration } from "./lib/webhook/self-registration";
import { listenPortOf, type WebhookInDef, webhookSettings } from "./lib/webhook/settings";
import { SharedEndpoint } from "./lib/webhook/shared-endpoint";

export = (RED: NodeAPI) => {
  function ClarusWebhookIn(this: Node, saved: WebhookInDef & { register?: unknown }) {
    RED.nodes.createNode(this, saved);
    const def = upgraded(this, "clarus-webhook-in", saved);
    let receiver: WebhookReceiver | undefined;
    let registration: WebhookSelfRegistration | undefined;
    try {
      // A dedicated port is served whatever httpNodeRoot says; Node-RED's server only when it has a node app.
      const port = listenPortOf(def);
      if (port === undefined && RED.settings.httpNodeRoot === false) {
        this.warn("Node-RED's HTTP node app is disabled (httpNodeRoot: false); this endpoint is not served");
        this.status(STATUS.disabled("http disabled"));
      } else {
        const connection = RED.nodes.getNode(def.connection) as ClarusConnectionNode | null;
        if (!connection?.services) throw new NotConfiguredError("no clarus-connection is configured");
        const listener =
          port === undefined
            ? undefined
            : listenerOptions(RED.settings as { clarus?: { listener?: ListenerSettingsDef } });
        const settings = webhookSettings(def, connection.services, listener?.trustProxy);
        const endpoint: WebhookEndpoint =
          port === undefined || listener === undefined
            ? new SharedEndpoint(RED)
            : new DedicatedEndpoint(port, listener, RED.events);
        receiver = new WebhookReceiver(RED, this, connection.services, settings, endpoint);
        registration = new WebhookSelfRegistration(this, connection.services, def, settings, RED.settings);
        registration.start();
      }
    } catch (error) {
      reportStartFailure(this, "not listening", error);
    }
    this.on("close", (removed: boolean, done: () => void) => {
      // The receiver waits for requests in flight; registration disables the automations of a paused node (or
      // one whose connection is disabled) and deletes those of a deleted one.
      const reason = closeReason(RED, this, removed, def.connection);
      Promise.all([receiver?.close(), registration?.close(reason)]).then(
        () => done(),
        (error: unknown) => {
          this.error(errorMessage(error));
          done();
        },
      );
    });
  }

  RED.nodes.registerType("clarus-webhook-in", ClarusWebhookIn, {
    settings: versionSettings("clarus-webhook-in"),
  });

  // The dialog's "Register now": it changes automations in Clarus, so it needs the node type's write permission.
  RED.httpAdmin.post("/clarus-wms/register", adminPermission(RED, "clarus-webhook-in.write"), (req, res) => {
    void registerNow(RED, req.body).then((answer) => res.status(answer.status).json(answer.body));
  });
};
