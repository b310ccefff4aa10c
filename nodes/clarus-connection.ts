import type { NodeAPI } from "node-red";

import { ClarusConnectionNode, ClarusTuning, ConnectionServices } from "./lib/connection/services";
import { CLARUS_EVENTS } from "./lib/events/vocabulary";
import type { ConnectionCredentials, ConnectionDef } from "./lib/connection/types";
import { adminPermission } from "./lib/node-red/admin-permission";

export = (RED: NodeAPI) => {
  function ClarusConnection(this: ClarusConnectionNode, def: ConnectionDef) {
    RED.nodes.createNode(this, def);
    this.services = new ConnectionServices(def, this.credentials ?? {}, {
      userDir: RED.settings.userDir,
      tuning: (RED.settings as { clarus?: ClarusTuning }).clarus,
      warn: (message) => this.warn(message),
      info: (message) => this.log(message),
      debug: (message) => this.debug(message),
    });
    this.on("close", (removed: boolean, done: () => void) => {
      this.services.close(removed).then(done, (error: unknown) => {
        this.error(error);
        done();
      });
    });
  }

  RED.nodes.registerType<ClarusConnectionNode, ConnectionDef, unknown, ConnectionCredentials>(
    "clarus-connection",
    ClarusConnection,
    {
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
};
