import type { NodeAPI } from "node-red";

import type { NodeSummary } from "./lib/admin/connection-view";
import { ConnectionsFeed } from "./lib/admin/connections-feed";
import {
  cancelReplayHandler,
  deadLettersHandler,
  discardHandler,
  replayHandler,
} from "./lib/admin/dead-letters-route";
import { healthHandler } from "./lib/admin/health-route";
import { metricsHandler } from "./lib/admin/metrics-route";
import { recentHandler, sendRecentHandler } from "./lib/admin/recent-route";
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

  /** The deployed nodes that use a connection, for the editor's Clarus tab. */
  const nodesOf = (connectionId: string): NodeSummary[] => {
    const nodes: NodeSummary[] = [];
    RED.nodes.eachNode((saved) => {
      const def = saved as { id: string; type: string; name?: string; z?: string; connection?: string };
      if (def.connection !== connectionId || !RED.nodes.getNode(def.id)) return;
      nodes.push({ id: def.id, type: def.type, name: def.name ?? "", z: def.z });
    });
    return nodes;
  };
  // The editor's Clarus tab: the same views over HTTP and, live, over comms.
  const feed = new ConnectionsFeed({
    connections: () => deployedConnections.values(),
    nodesOf,
    publish: (topic, data, retain) => RED.comms.publish(topic, data, retain),
    warn: (message) => RED.log.warn(message),
  });
  feed.start();

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
    feed.watch(services);
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

  const read = adminPermission(RED, "clarus-connection.read");
  const write = adminPermission(RED, "clarus-connection.write");
  const servicesOf = (id: string) => deployedConnections.get(id);
  RED.httpAdmin.get("/clarus-wms/connections", read, feed.handler());
  RED.httpAdmin.get("/clarus-wms/connections/:id/dead-letters", read, deadLettersHandler(servicesOf));
  RED.httpAdmin.post("/clarus-wms/connections/:id/dead-letters/replay", write, replayHandler(servicesOf));
  RED.httpAdmin.post(
    "/clarus-wms/connections/:id/dead-letters/replay/cancel",
    write,
    cancelReplayHandler(servicesOf),
  );
  RED.httpAdmin.post("/clarus-wms/connections/:id/dead-letters/discard", write, discardHandler(servicesOf));
  RED.httpAdmin.get("/clarus-wms/connections/:id/recent", read, recentHandler(servicesOf));
  RED.httpAdmin.post(
    "/clarus-wms/connections/:id/recent/:delivery/send",
    write,
    sendRecentHandler(servicesOf, () => RED.util.generateId()),
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
