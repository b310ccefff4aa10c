import type { Node, NodeAPI } from "node-red";

/**
 * Why a node closes, told apart from Node-RED's one `removed` flag:
 * - `deleted`: its id is gone from the deployed flows, so its state and its Clarus automations go too;
 * - `paused`: it, its flow tab, its subflow instance or its config node was disabled (Node-RED passes
 *   `removed = true` for some of these too), so everything it keeps stays, for the day it is enabled again;
 * - `stopped`: a redeploy or the end of the process; it starts again with the same state.
 */
export type CloseReason = "deleted" | "paused" | "stopped";

type Deployed = Pick<NodeAPI, "nodes">;

/** A node as Node-RED builds it inside a subflow instance: `<instance id>-<id in the subflow>`, stable since 3.1. */
interface ClosingNode {
  id: string;
  /** Its id inside the subflow definition, for a node in a subflow instance. */
  _alias?: string;
  /** The subflow instance (or flow) that holds it. */
  z?: string;
}

/**
 * Node-RED swaps in the new configuration before it stops the old nodes, so while `close` runs the deployed
 * flows already tell a deleted node (its id gone) from a disabled one (its id there, with `d: true` on it, its
 * tab or its config node).
 *
 * Inside a subflow instance Node-RED never passes `removed`, and the node's id is made up for the instance: it
 * is deleted when its id is gone from the subflow definition or its instance is gone from the flows, and paused
 * while its instance is disabled.
 */
export function closeReason(
  RED: Deployed,
  node: Pick<Node, "id"> & ClosingNode,
  removed: boolean,
  /** The config node this one works through: disabling it restarts this node (removed = false), a pause too. */
  configNodeId?: string,
): CloseReason {
  const inSubflow = subflowReason(RED, node);
  if (inSubflow) return inSubflow;
  if (removed) return deployedState(RED, node.id) === "absent" ? "deleted" : "paused";
  if (configNodeId !== undefined && deployedState(RED, configNodeId) === "disabled") return "paused";
  return "stopped";
}

function subflowReason(RED: Deployed, node: ClosingNode): CloseReason | undefined {
  if (!node._alias || !node.z || node.id !== `${node.z}-${node._alias}`) return undefined;
  if (deployedState(RED, node._alias) === "absent") return "deleted";
  // A nested instance's id is made up too and not in the flows: its own instance decides, when it closes.
  const instance = deployedState(RED, node.z);
  if (instance === "absent") return madeUp(RED, node.z) ? "stopped" : "deleted";
  return instance === "disabled" ? "paused" : "stopped";
}

/** An id Node-RED made for a node inside a subflow instance: `<instance id>-<an id of a subflow's node>`. */
function madeUp(RED: Deployed, id: string): boolean {
  for (let dash = id.indexOf("-"); dash !== -1; dash = id.indexOf("-", dash + 1)) {
    if (deployedState(RED, id.slice(dash + 1)) !== "absent") return true;
  }
  return false;
}

/** How a node of this id stands in the deployed flows: enabled, disabled (`d: true`), or absent. */
export function deployedState(RED: Deployed, id: string): "enabled" | "disabled" | "absent" {
  let state: "enabled" | "disabled" | "absent" = "absent";
  RED.nodes.eachNode((definition) => {
    if (definition.id === id) state = (definition as { d?: boolean }).d === true ? "disabled" : "enabled";
  });
  return state;
}

/** Whether a node of this id stands in the deployed flows, enabled or disabled. */
export function isDeployed(RED: Deployed, id: string): boolean {
  return deployedState(RED, id) !== "absent";
}
