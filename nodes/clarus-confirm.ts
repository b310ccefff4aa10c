import type { Node, NodeAPI, NodeMessageInFlow } from "node-red";

import type { ClarusConnectionNode } from "./lib/connection/services";
import { ConfirmDef, Confirmer, confirmSettings } from "./lib/delivery/confirm";
import { reportStartFailure } from "./lib/node-red/start-failure";
import { upgraded, versionSettings } from "./lib/node-versions";

export = (RED: NodeAPI) => {
  function ClarusConfirm(this: Node, saved: ConfirmDef) {
    RED.nodes.createNode(this, saved);
    const def = upgraded(this, "clarus-confirm", saved);
    let confirmer: Confirmer | undefined;
    try {
      confirmer = new Confirmer(
        this,
        confirmSettings(def),
        (id) => (RED.nodes.getNode(id) as ClarusConnectionNode | null)?.services?.delivery,
      );
    } catch (error) {
      reportStartFailure(this, "not confirming", error);
    }

    this.on(
      "input",
      (msg: NodeMessageInFlow, send: (msg: NodeMessageInFlow) => void, done: (error?: Error) => void) => {
        if (!confirmer) return done(new Error("the clarus-confirm node is not configured"));
        const running = confirmer;
        running.handle(msg).then(
          () => {
            send(msg);
            done();
          },
          (error: unknown) => {
            running.failed(error);
            done(error instanceof Error ? error : new Error(String(error)));
          },
        );
      },
    );

    this.on("close", (done: () => void) => {
      confirmer?.close();
      done();
    });
  }

  RED.nodes.registerType("clarus-confirm", ClarusConfirm, { settings: versionSettings("clarus-confirm") });
};
