import type { IncomingMessage, ServerResponse } from "node:http";

import type { TokenTest } from "./route-registry";

/**
 * What a receiver offers the server that serves its route: Node-RED's HTTP node app (`SharedEndpoint`) or
 * a listener on a port of its own (`DedicatedEndpoint`). The server finds the route by path; the receiver
 * does every check and the answer, so both serve the same contract.
 */
export interface ServedRoute {
  readonly nodeId: string;
  readonly method: string;
  /** The normalised path (`/clarus/events`). */
  readonly path: string;
  /** Whether a last path segment is this node's token. */
  readonly isToken: TokenTest;
  /** False once the node is closing: the server passes the request on (shared) or answers 503 (dedicated). */
  readonly isActive: () => boolean;
  /**
   * Handles `path` (segment undefined) or `path/<segment>`; a method other than the route's is answered 405
   * with the methods the path has.
   */
  dispatch(req: IncomingMessage, res: ServerResponse, segment: string | undefined): void;
  /** The server cannot serve the route (a dedicated port in use), or can again (undefined). */
  serverProblem(problem: string | undefined): void;
}

export interface EndpointRegistration {
  /** The methods the route's path has on this server, for a 405's `Allow`. */
  methodsFor(path: string): string[];
  /** Where the status says the route listens: `/path` or `:8443/path`. */
  readonly label: string;
  remove(): void;
}

export interface WebhookEndpoint {
  /** Serves `route`; throws RouteConflictError when another node holds its method and path there. */
  serve(route: ServedRoute): EndpointRegistration;
}
