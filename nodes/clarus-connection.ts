import type { NodeAPI } from "node-red";

import { deadLettersHandler } from "./lib/admin/dead-letters-route";
import { healthHandler } from "./lib/admin/health-route";
import { metricsHandler } from "./lib/admin/metrics-route";
import { testConnectionHandler } from "./lib/admin/test-connection-route";
import { ClarusConnectionNode, ClarusTuning, ConnectionServices } from "./lib/connection/services";
import type { ConnectionCredentials, ConnectionDef } from "./lib/connection/types";
import { CLARUS_EVENTS } from "./lib/events/vocabulary";
import { adminPermission } from "./lib/node-red/admin-permission";
import { closeReason, isDeployed } from "./lib/node-red/lifecycle";
import { NODE_MIGRATIONS, upgraded, versionSettings } from "./lib/node-versions";

export = (RED: NodeAPI) => {
  /** The connections deployed now, for the health endpoint: added as each starts, removed as it closes. */
  const deployedConnections = new Map<string, ConnectionServices>();

  function ClarusConnection(this: ClarusConnectionNode, saved: ConnectionDef) {
    RED.nodes.createNode(this, saved);
    const def = upgraded(this, "clarus-connection", saved);
    this.services = new ConnectionServices(def, this.credentials ?? {}, {
      userDir: RED.settings.userDir,
      tuning: (RED.settings as { clarus?: ClarusTuning }).clarus,
      warn: (message) => this.warn(message),
      info: (message) => this.log(message),
      debug: (message) => this.debug(message),
      delivery: {
        generateId: () => RED.util.generateId(),
        error: (message) => this.error(message),
        isDeployed: (id) => isDeployed(RED, id),
      },
    });
    const services = this.services;
    deployedConnections.set(this.id, services);
    // Pending events are sent again once the flows run, so every source node has registered its sender.
    const startDelivery = () => this.services.delivery.start();
    RED.events.once("flows:started", startDelivery);
    this.on("close", (removed: boolean, done: () => void) => {
      if (deployedConnections.get(this.id) === services) deployedConnections.delete(this.id);
      RED.events.off("flows:started", startDelivery);
      this.services.close(closeReason(RED, this, removed)).then(done, (error: unknown) => {
        this.error(error);
        done();
      });
    });
  }

  RED.nodes.registerType<ClarusConnectionNode, ConnectionDef, unknown, ConnectionCredentials>(
    "clarus-connection",
    ClarusConnection,
    {
      settings: versionSettings("clarus-connection"),
      credentials: {
        clientId: { type: "text" },
        clientSecret: { type: "password" },
        accessToken: { type: "password" },
        webhookToken: { type: "password" },
        redisUrl: { type: "password" },
      },
    },
  );

  // The editor's event lists (resources/clarus-editor.js) ask for the vocabulary the runtime classifies with,
  // so it is written once, in lib/events/vocabulary.ts.
  RED.httpAdmin.get("/clarus-wms/events", adminPermission(RED, "clarus-connection.read"), (_req, res) => {
    res.json(CLARUS_EVENTS);
  });

  // Prometheus scrapes every deployed connection's counters here.
  const deployedServices = () => {
    const ids: string[] = [];
    RED.nodes.eachNode((node) => {
      if (node.type === "clarus-connection") ids.push(node.id);
    });
    return ids
      .map((id) => (RED.nodes.getNode(id) as ClarusConnectionNode | null)?.services)
      .filter((services): services is ConnectionServices => services !== undefined);
  };
  RED.httpAdmin.get(
    "/clarus-wms/metrics",
    adminPermission(RED, "clarus-connection.read"),
    metricsHandler(deployedServices),
  );

  // The editor upgrades an older node's properties when its dialog opens, with the steps the runtime applies.
  RED.httpAdmin.get("/clarus-wms/migrations", adminPermission(RED, "clarus-connection.read"), (_req, res) => {
    res.json(NODE_MIGRATIONS);
  });

  // The dialog's Test connection button: sends what is typed there, so it works before a deploy too.
  const deployed = (id: string) => {
    const node = RED.nodes.getNode(id) as ClarusConnectionNode | null;
    const credentials = RED.nodes.getCredentials(id) as ConnectionCredentials | undefined;
    return credentials ? { credentials, apiUrl: node?.services?.apiUrl } : undefined;
  };
  const tuning = () => (RED.settings as { clarus?: ClarusTuning }).clarus;
  const observedWebhooks = (id: string) =>
    (RED.nodes.getNode(id) as ClarusConnectionNode | null)?.services?.webhookIdentities.list() ?? [];
  RED.httpAdmin.post(
    "/clarus-wms/test-connection",
    adminPermission(RED, "clarus-connection.write"),
    testConnectionHandler(deployed, tuning, observedWebhooks),
  );

  RED.httpAdmin.get(
    "/clarus-wms/connections/:id/dead-letters",
    adminPermission(RED, "clarus-connection.read"),
    deadLettersHandler((id) => (RED.nodes.getNode(id) as ClarusConnectionNode | null)?.services),
  );

  // For probes and monitoring: the route is registered behind the admin auth; settings.js
  // clarus.publicHealth also answers requests without credentials, with states only.
  RED.httpAdmin.get(
    "/clarus-wms/health",
    healthHandler({
      connections: () => deployedConnections.values(),
      adminAuth: adminPermission(RED, "clarus-connection.read"),
      publicHealth: () => tuning()?.publicHealth === true,
      tokenHeader: () => (RED.settings as { adminAuth?: { tokenHeader?: string } }).adminAuth?.tokenHeader,
    }),
  );
};
