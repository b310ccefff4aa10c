import * as http from "node:http";
import * as https from "node:https";

import { ConfigError } from "../node-red/errors";
import type { EndpointRegistration, ServedRoute, WebhookEndpoint } from "./endpoint";
import { answerJson as answer } from "./json-body";
import type { ListenerOptions, ListenerTls } from "./listener-settings";
import { keepBodyUnread, RouteConflictError } from "./route-registry";

/**
 * Timeouts of a dedicated port. Headers must arrive within 20 s (slow-loris); a whole request within 60 s,
 * above the receivers' 30 s body limit so a slow body still gets their 408. An idle keep-alive connection
 * stays 65 s, longer than the 60 s idle timeout of common proxies and load balancers, so the proxy closes
 * first and never sends into a connection this side is closing.
 */
const HEADERS_TIMEOUT_MS = 20_000;
const REQUEST_TIMEOUT_MS = 60_000;
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
const TIMEOUT_CHECK_MS = 5_000;
/** Connections still open when the port closes are cut after this. */
const CLOSE_GRACE_MS = 1_000;
/** The longest a port with no route stays open when no deploy follows (normally it is the same deploy's start). */
const IDLE_CLOSE_MS = 10_000;

/** Node-RED's runtime events (`RED.events`): a deploy's start, a runtime stopped from the editor. */
export interface RuntimeEvents {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

const NOT_FOUND = Buffer.from('{"ok":false,"error":"not found"}');
const CLOSING = Buffer.from('{"ok":false,"error":"the endpoint is being redeployed; try again later"}');
const MALFORMED_SEGMENT = Buffer.from(
  JSON.stringify({ ok: false, error: "the last path segment is not valid percent-encoding" }),
);

type State = "starting" | "listening" | "failed" | "closed";

/**
 * One `node:http` (or `node:https`) server on a port of its own, shared by the webhook-ins that name that
 * port. It knows only their paths: `<path>` and `<path>/<segment>` go to the node with the request's
 * method (any of them, for a 405), everything else is a bare 404. No express, no body parser, no editor.
 */
class DedicatedListener {
  /** Lower-cased path -> the routes at it (one per method). */
  private readonly routes = new Map<string, ServedRoute[]>();
  private readonly server: http.Server;
  private state: State = "starting";
  private problem?: string;
  private idleTimer?: NodeJS.Timeout;

  constructor(
    readonly port: number,
    private readonly options: ListenerOptions,
    private readonly events: RuntimeEvents,
    private readonly onClosed: () => void,
  ) {
    const serverOptions: http.ServerOptions = {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
      noDelay: true,
    };
    try {
      this.server = options.tls
        ? https.createServer({ ...serverOptions, ...options.tls }, this.onRequest)
        : http.createServer(serverOptions, this.onRequest);
    } catch (error) {
      // A key that does not match its certificate, or a file that is not PEM.
      throw new ConfigError(`clarus.listener TLS: ${(error as Error).message}`);
    }
    this.server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    this.server.on("error", this.onError);
    this.server.listen(port, options.host, () => {
      if (this.state !== "starting") return;
      this.state = "listening";
      this.problem = undefined;
      for (const route of this.allRoutes()) route.serverProblem(undefined);
    });
  }

  get secure(): boolean {
    return this.options.tls !== undefined;
  }

  add(route: ServedRoute): EndpointRegistration {
    const key = route.path.toLowerCase();
    const atPath = this.routes.get(key) ?? [];
    const holder = atPath.find((other) => other.method === route.method);
    if (holder && holder.nodeId !== route.nodeId) {
      throw new RouteConflictError(
        `${route.method} ${route.path} on port ${this.port} is already used by node ${holder.nodeId}`,
      );
    }
    atPath.push(route);
    this.routes.set(key, atPath);
    this.stopIdling();
    if (this.problem !== undefined) route.serverProblem(this.problem);
    return {
      methodsFor: (path) => (this.routes.get(path.toLowerCase()) ?? []).map((other) => other.method),
      label: `:${this.port}${route.path}`,
      remove: () => this.remove(key, route),
    };
  }

  /** A renewed certificate, read at a redeploy, for the connections made from now on. */
  reloadTls(tls: ListenerTls): void {
    try {
      (this.server as https.Server).setSecureContext(tls);
    } catch (error) {
      throw new ConfigError(`clarus.listener TLS: ${(error as Error).message}`);
    }
  }

  private remove(key: string, route: ServedRoute): void {
    const rest = (this.routes.get(key) ?? []).filter((other) => other !== route);
    if (rest.length > 0) this.routes.set(key, rest);
    else this.routes.delete(key);
    if (this.routes.size !== 0) return;
    // A port that never listened has nothing to keep: the next node tries the bind afresh.
    if (this.state === "failed") return this.close();
    this.startIdling();
  }

  /**
   * A redeploy closes every old node before it starts the new ones. Closing the port in between would refuse
   * Clarus's connections and race the new bind, so a port left without routes stays open, answering 503, until
   * the deploy has started its nodes: if none of them took the port by then, it closes.
   */
  private startIdling(): void {
    if (this.idleTimer) return;
    this.events.on("flows:started", this.closeIfIdle);
    this.events.on("runtime-event", this.onRuntimeEvent);
    this.idleTimer = setTimeout(this.closeIfIdle, IDLE_CLOSE_MS);
    this.idleTimer.unref();
  }

  private stopIdling(): void {
    if (!this.idleTimer) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.events.off("flows:started", this.closeIfIdle);
    this.events.off("runtime-event", this.onRuntimeEvent);
  }

  private readonly closeIfIdle = () => {
    if (this.routes.size !== 0) return;
    this.stopIdling();
    this.close();
  };

  /**
   * Flows stopped from the editor, not by a deploy (every deploy's stop says `deploy: true`, and its start
   * follows): no start follows.
   */
  private readonly onRuntimeEvent = (event: unknown) => {
    const { id, payload } = (event ?? {}) as { id?: string; payload?: { state?: string; deploy?: boolean } };
    if (id === "runtime-state" && payload?.state === "stop" && payload.deploy !== true) this.closeIfIdle();
  };

  /** With its last route the port closes: a connect is refused from now on, and open connections end. */
  private close(): void {
    if (this.state === "closed") return;
    const wasListening = this.state !== "failed";
    this.state = "closed";
    this.onClosed();
    if (!wasListening) return;
    this.server.close();
    this.server.closeIdleConnections();
    setTimeout(() => this.server.closeAllConnections(), CLOSE_GRACE_MS).unref();
  }

  private readonly onError = (error: NodeJS.ErrnoException) => {
    if (this.state === "closed") return;
    const problem =
      error.code === "EADDRINUSE"
        ? `port ${this.port} in use`
        : error.code === "EACCES"
          ? `port ${this.port} not allowed`
          : `port ${this.port}: ${error.code ?? error.message}`;
    this.state = "failed";
    this.problem = problem;
    for (const route of this.allRoutes()) route.serverProblem(problem);
  };

  private *allRoutes(): Iterable<ServedRoute> {
    for (const atPath of this.routes.values()) yield* atPath;
  }

  private readonly onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (this.state === "closed")
      return answer(res, 503, CLOSING, { "Retry-After": "5", Connection: "close" });
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const path = (query === -1 ? url : url.slice(0, query)).replace(/\/{2,}/g, "/").replace(/\/+$/, "");
    const key = path.toLowerCase();
    let atPath = this.routes.get(key);
    let segment: string | undefined;
    if (!atPath) {
      const slash = key.lastIndexOf("/");
      atPath = slash > 0 ? this.routes.get(key.slice(0, slash)) : undefined;
      if (!atPath) return answer(res, 404, NOT_FOUND);
      segment = decodeSegment(path.slice(slash + 1));
      if (segment === undefined) return answer(res, 400, MALFORMED_SEGMENT);
    }
    const route = atPath.find((other) => other.method === req.method) ?? atPath[0];
    if (!route.isActive()) return answer(res, 503, CLOSING, { "Retry-After": "5" });
    keepBodyUnread(req);
    route.dispatch(req, res, segment);
  };
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** The listeners of this runtime, by port: one per port however many nodes and deploys use it. */
const listeners = new Map<number, DedicatedListener>();

/**
 * A webhook port of its own. The first node that names the port opens it, the others join it, and it
 * closes once the deploy that removed its last node has started; nodes of the next deploy take the open
 * port over (the TLS files read again), so no two listeners ever hold it.
 */
export class DedicatedEndpoint implements WebhookEndpoint {
  constructor(
    private readonly port: number,
    private readonly options: ListenerOptions,
    private readonly events: RuntimeEvents,
  ) {}

  serve(route: ServedRoute): EndpointRegistration {
    let listener = listeners.get(this.port);
    if (listener && listener.secure !== (this.options.tls !== undefined)) {
      throw new ConfigError(`port ${this.port} already listens with other clarus.listener settings`);
    }
    if (listener?.secure && this.options.tls) listener.reloadTls(this.options.tls);
    if (!listener) {
      const opened: DedicatedListener = new DedicatedListener(this.port, this.options, this.events, () => {
        if (listeners.get(this.port) === opened) listeners.delete(this.port);
      });
      listener = opened;
      listeners.set(this.port, listener);
    }
    return listener.add(route);
  }
}

/** For tests and benches: the ports this runtime listens on now. */
export function openDedicatedPorts(): number[] {
  return [...listeners.keys()];
}
