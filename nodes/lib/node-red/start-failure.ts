import type { Node } from "node-red";

import { errorMessage, NotConfiguredError } from "./errors";
import { STATUS } from "./status";

/**
 * Shows why a node could not start. Not configured yet (an imported example, a new node): grey, with what is
 * missing in the status, and the full reason in the log at info level only, so a flow of unconfigured examples
 * does not fill the debug sidebar with warnings at every deploy. Anything else: red, and an error.
 */
export function reportStartFailure(node: Node, what: string, error: unknown): void {
  const message = errorMessage(error);
  if (error instanceof NotConfiguredError) {
    node.log(`${what}: ${message}`);
    node.status(STATUS.disabled(notConfiguredStatus(message)));
  } else {
    node.error(`${what}: ${message}`);
    node.status(STATUS.failed(message.slice(0, 40)));
  }
}

/** What is missing, in the few words a status has room for: "not configured: no webhook token". */
export function notConfiguredStatus(message: string): string {
  const missing = MISSING.find(([pattern]) => pattern.test(message))?.[1];
  return missing ? `not configured: ${missing}` : "not configured";
}

const MISSING: ReadonlyArray<readonly [RegExp, string]> = [
  [/no clarus-connection/, "no connection"],
  [/no webhook token/, "no webhook token"],
  [/no subdomain/, "no subdomain"],
  [/no API credentials/, "no API credentials"],
  [/no public URL/, "no public URL"],
];
