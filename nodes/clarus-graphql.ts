import { setMaxListeners } from "node:events";

import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";

import { ClarusApiError } from "./lib/api/client";
import {
  GraphqlNodeSettings,
  operationNameOf,
  queryOf,
  runGraphql,
  variablesOf,
} from "./lib/api/graphql-request";
import type { ClarusConnectionNode } from "./lib/connection/services";
import { errorMessage } from "./lib/node-red/errors";
import { flag } from "./lib/node-red/properties";
import { STATUS } from "./lib/node-red/status";
import { upgraded, versionSettings } from "./lib/node-versions";

interface GraphqlDef extends NodeDef {
  connection: string;
  query?: string;
  allPages?: boolean | string;
  maxPages?: number | string;
}

export = (RED: NodeAPI) => {
  function ClarusGraphql(this: Node, saved: GraphqlDef) {
    RED.nodes.createNode(this, saved);
    const def = upgraded(this, "clarus-graphql", saved);
    const connection = RED.nodes.getNode(def.connection) as ClarusConnectionNode | null;
    const settings: GraphqlNodeSettings = {
      query: String(def.query ?? ""),
      allPages: flag(def.allPages, false),
      maxPages: Number(def.maxPages) > 0 ? Math.floor(Number(def.maxPages)) : 100,
      pageSize: 100,
    };
    const abort = new AbortController();
    // Every request in flight listens on this one signal; many at once is normal, not a leak.
    setMaxListeners(0, abort.signal);
    let inFlight = 0;

    this.on(
      "input",
      (msg: NodeMessageInFlow, send: (msg: NodeMessageInFlow) => void, done: (error?: Error) => void) => {
        // Everything below works on this message alone, so concurrent inputs never share a response.
        (async () => {
          if (!connection?.services) throw new Error("no clarus-connection is configured");
          const client = connection.services.api;
          const query = queryOf(settings, msg as { query?: unknown });
          inFlight++;
          this.status(STATUS.working(`querying (${inFlight})`));
          try {
            msg.payload = await runGraphql(
              client,
              settings,
              query,
              variablesOf(msg),
              abort.signal,
              operationNameOf(msg as { operationName?: unknown }),
            );
          } finally {
            inFlight--;
          }
          this.status(STATUS.ok(`ok ${new Date().toISOString().slice(11, 19)}`));
          send(msg);
          done();
        })().catch((error: unknown) => {
          if (abort.signal.aborted) return done();
          if (error instanceof ClarusApiError && error.graphqlErrors) {
            (msg as { errors?: unknown }).errors = error.graphqlErrors;
          }
          this.status(STATUS.failed(errorMessage(error).slice(0, 40)));
          done(error instanceof Error ? error : new Error(errorMessage(error)));
        });
      },
    );

    this.on("close", (done: () => void) => {
      abort.abort(new Error("the node is closing"));
      done();
    });
  }

  RED.nodes.registerType("clarus-graphql", ClarusGraphql, { settings: versionSettings("clarus-graphql") });
};
