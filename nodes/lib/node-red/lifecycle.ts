import { createHash } from "node:crypto";

import type { Node, NodeAPI } from "node-red";

import { ConfigError } from "./errors";

/**
 * Why a node closes, told apart from Node-RED's one `removed` flag:
 * - `deleted`: its id is gone from the deployed flows, so its state and its Clarus automations go too;
 * - `paused`: it, its flow tab or its config node was disabled (Node-RED passes `removed = true` for these
 *   too), so everything it keeps stays, for the day it is enabled again;
 * - `stopped`: a redeploy or the end of the process; it starts again with the same state.
 */
export type CloseReason = "deleted" | "paused" | "stopped";

/**
 * Node-RED swaps in the new configuration before it stops the old nodes, so while `close` runs the deployed
 * flows already tell a deleted node (its id gone) from a disabled one (its id there, with `d: true` on it, its
 * tab or its config node).
 */
export function closeReason(
  RED: Pick<NodeAPI, "nodes">,
  node: Pick<Node, "id">,
  removed: boolean,
  /** The config node this one works through: disabling it restarts this node (removed = false), a pause too. */
  configNodeId?: string,
): CloseReason {
  if (removed) return deployedState(RED, node.id) === "absent" ? "deleted" : "paused";
  if (configNodeId !== undefined && deployedState(RED, configNodeId) === "disabled") return "paused";
  return "stopped";
}

/** How a node of this id stands in the deployed flows: enabled, disabled (`d: true`), or absent. */
export function deployedState(RED: Pick<NodeAPI, "nodes">, id: string): "enabled" | "disabled" | "absent" {
  let state: "enabled" | "disabled" | "absent" = "absent";
  RED.nodes.eachNode((definition) => {
    if (definition.id === id) state = (definition as { d?: boolean }).d === true ? "disabled" : "enabled";
  });
  return state;
}

/**
 * The key under which a node keeps its state (poll watermark, inbox entries, registered automations). A node
 * at the top of a flow keeps its id, as it always did. A node inside a subflow gets a new id every time the
 * flows start, so its key is made from what stays: its id inside the subflow and the path of subflow
 * instances that holds it (Node-RED 3.1+ gives every node that path).
 */
export function stateKey(node: Pick<Node, "id"> & { _alias?: string; _path?: string }): string {
  if (!node._alias) return node.id;
  if (!node._path) {
    throw new ConfigError(
      "inside a subflow this node needs Node-RED 3.1 or later (a node path to key its state by)",
    );
  }
  const digest = createHash("sha256").update(node._path).digest("hex").slice(0, 12);
  return `${node._alias}-${digest}`;
}

/** Whether a node of this id stands in the deployed flows, enabled or disabled. */
export function isDeployed(RED: Pick<NodeAPI, "nodes">, id: string): boolean {
  return deployedState(RED, id) !== "absent";
}
