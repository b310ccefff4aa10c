import type { Node, NodeMessage } from "node-red";

import type { ClarusMessage } from "../events/message";
import type { EventSender } from "./delivery";

/**
 * A source node as the delivery sees it: `send` puts a redelivered message on the node's first output
 * (`outputs` shapes it for a node with more than one), `fail` reports a dead letter with its message, so
 * a Catch node on the source node gets it.
 */
export function nodeSender(
  node: Node,
  outputs: (msg: ClarusMessage) => NodeMessage | (NodeMessage | null)[] = (msg) => msg,
): EventSender {
  return {
    send: (msg) => node.send(outputs(msg)),
    fail: (error, msg) => node.error(error, msg),
  };
}
