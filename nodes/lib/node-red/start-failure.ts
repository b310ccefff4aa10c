import type { Node } from "node-red";

import { errorMessage, NotConfiguredError } from "./errors";
import { STATUS } from "./status";

/** Shows why a node could not start: grey and a warning when it is not configured yet, red otherwise. */
export function reportStartFailure(node: Node, what: string, error: unknown): void {
  const message = errorMessage(error);
  if (error instanceof NotConfiguredError) {
    node.warn(`${what}: ${message}`);
    node.status(STATUS.disabled("not configured"));
  } else {
    node.error(`${what}: ${message}`);
    node.status(STATUS.failed(message.slice(0, 40)));
  }
}
