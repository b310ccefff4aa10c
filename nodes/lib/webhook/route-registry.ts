import type { IncomingMessage } from "node:http";

import type { Express, NextFunction, Request, RequestHandler, Response } from "express";

import { ConfigError } from "../node-red/errors";

export class RouteConflictError extends ConfigError {
  override name = "RouteConflictError";
}

/** Set on a request whose body the root guard kept unread for one of our routes. */
export const UNREAD_BODY = Symbol("clarus.unreadBody");

/** What the root guard makes of a request, before any body parser runs. */
type Ownership = "ours" | "not ours" | "malformed";

type GuardedRequest = IncomingMessage & { _body?: boolean; [UNREAD_BODY]?: boolean };

interface RouteLike {
  stack: { handle: unknown }[];
  /** Express 4 and 5 (router 1.x); whether the route has a handler for a method. */
  _handles_method?: (method: string) => boolean;
  /** Express 5 with router 2.x. */
  _handlesMethod?: (method: string) => boolean;
}

interface LayerLike {
  handle: unknown;
  route?: RouteLike;
  /** Express 4 and 5 both test a path against a layer with this. */
  match?: (path: string) => boolean;
}

interface RouterLike {
  stack: LayerLike[];
}

type ExpressApp = Express & { parent?: ExpressApp };

/** Express 4 keeps its router in `_router`, Express 5 in `router`. */
function routerOf(app: Express): RouterLike | undefined {
  const withRouter = app as unknown as { _router?: RouterLike; router?: RouterLike };
  return withRouter._router ?? withRouter.router;
}

/** Only plain path characters: no express pattern syntax (`:`, `*`, `(`), so a path means what it says. */
const VALID_PATH = /^(\/[A-Za-z0-9._~-]+)+$/;

export function normalisePath(path: string): string {
  const trimmed = path.trim();
  const withSlash = trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
  const cleaned = withSlash.replace(/\/{2,}/g, "/").replace(/\/+$/, "");
  if (!VALID_PATH.test(cleaned)) {
    throw new ConfigError(
      `path ${JSON.stringify(path)} must be like /clarus/events (letters, digits, . _ ~ -)`,
    );
  }
  return cleaned;
}

function routeKey(path: string): string {
  return path.toLowerCase();
}

export interface RouteRegistration {
  /** Removes exactly this registration's express layer, found by handler identity. */
  remove(): void;
  /**
   * True when a route that is not a webhook-in's at this registration's path (a core `http in`, a
   * webhook-in at a longer path) takes `method path`. The root guard decides with the same test.
   */
  otherRouteMatches(path: string, method: string): boolean;
}

/** Whether a last path segment is the webhook token of the node that claimed the path above it. */
export type TokenTest = (segment: string) => boolean;

/**
 * Our webhook routes on one Node-RED HTTP node app. It refuses a second claim on the same method and
 * path, answers which methods a path has (for 405), removes routes by handler identity (never by path,
 * which would take another node's route with it) and keeps request bodies unread until our handler
 * reads them with its own size limit.
 */
export class WebhookRoutes {
  private readonly claims = new Map<string, Map<string, string>>();
  /** Path (in the HTTP node app) -> the token tests of the nodes that claimed it. */
  private readonly tokenTests = new Map<string, TokenTest[]>();
  /** Path -> the terminal handlers our routes at that path were registered with. */
  private readonly ownHandlers = new Map<string, Set<unknown>>();

  constructor(private readonly app: ExpressApp) {
    installBodyGuard(app, (pathname, method) => this.ownership(pathname, method));
  }

  /**
   * Claims method + path for a node; throws a clear error if another node holds it. `<path>/<segment>`
   * counts as the node's (its body kept unread) only when `isToken(segment)`.
   */
  claim(nodeId: string, method: string, path: string, isToken: TokenTest): () => void {
    const key = routeKey(path);
    const methods = this.claims.get(key) ?? new Map<string, string>();
    const holder = methods.get(method);
    if (holder !== undefined && holder !== nodeId) {
      throw new RouteConflictError(`${method} ${path} is already used by node ${holder}`);
    }
    methods.set(method, nodeId);
    this.claims.set(key, methods);
    this.tokenTests.set(key, [...(this.tokenTests.get(key) ?? []), isToken]);
    return () => {
      if (methods.get(method) === nodeId) methods.delete(method);
      if (methods.size === 0) this.claims.delete(key);
      const rest = (this.tokenTests.get(key) ?? []).filter((test) => test !== isToken);
      if (rest.length === 0) this.tokenTests.delete(key);
      else this.tokenTests.set(key, rest);
    };
  }

  methodsFor(path: string): string[] {
    return [...(this.claims.get(routeKey(path))?.keys() ?? [])];
  }

  /** Registers `path` and `path/<token>` for every method: wrong methods get a 405 from us, not a 404. */
  register(path: string, handlers: RequestHandler[]): RouteRegistration {
    const own = handlers[handlers.length - 1];
    const key = routeKey(path);
    const atPath = this.ownHandlers.get(key) ?? new Set<unknown>();
    atPath.add(own);
    this.ownHandlers.set(key, atPath);
    this.app.all([path, `${path}/:token`], ...handlers);
    const isOwn = (layer: LayerLike) => layer.route?.stack.some((entry) => entry.handle === own) === true;
    return {
      remove: () => {
        atPath.delete(own);
        if (atPath.size === 0 && this.ownHandlers.get(key) === atPath) this.ownHandlers.delete(key);
        const router = routerOf(this.app);
        if (!router) return;
        router.stack = router.stack.filter((layer) => !isOwn(layer));
      },
      otherRouteMatches: (requestPath, method) => this.otherRouteMatches(key, requestPath, method),
    };
  }

  /**
   * Whether a route other than the webhook-ins' at `key` takes `method path`. Those at `key` are left out:
   * each of them would hand `<path>/<segment>` on to the others, and the request would reach nobody.
   */
  private otherRouteMatches(key: string, path: string, method: string): boolean {
    const ours = this.ownHandlers.get(key);
    return (
      routerOf(this.app)?.stack.some(
        (layer) =>
          layer.route !== undefined &&
          !layer.route.stack.some((entry) => ours?.has(entry.handle) === true) &&
          handlesMethod(layer.route, method) &&
          layerMatches(layer, path),
      ) ?? false
    );
  }

  /**
   * "ours" for our exact paths, for `<path>/<token>`, and for any other `<path>/<segment>` that no other
   * route takes (we answer it 401 or 404 without reading the body); "not ours" when one does, so a core
   * `http in` one segment below keeps its body parser; "malformed" for a segment that is not valid
   * percent-encoding, which every route with a parameter would fail on.
   */
  private ownership(pathname: string, method: string): Ownership {
    if (this.tokenTests.size === 0) return "not ours";
    const path = this.inApp(pathname);
    if (path === undefined) return "not ours";
    const cleaned = path.replace(/\/{2,}/g, "/").replace(/\/+$/, "");
    const key = routeKey(cleaned);
    if (this.tokenTests.has(key)) return "ours";
    const slash = cleaned.lastIndexOf("/");
    const parent = slash > 0 ? key.slice(0, slash) : undefined;
    const tests = parent === undefined ? undefined : this.tokenTests.get(parent);
    if (parent === undefined || !tests) return "not ours";
    const segment = decodeSegment(cleaned.slice(slash + 1));
    if (segment === undefined) return "malformed";
    if (tests.some((isToken) => isToken(segment))) return "ours";
    return this.otherRouteMatches(parent, path, method) ? "not ours" : "ours";
  }

  /** A root-app pathname as this app's router sees it (its mount path taken off), or undefined if outside. */
  private inApp(pathname: string): string | undefined {
    const mount = this.app.path().replace(/\/+$/, "");
    if (mount === "") return pathname;
    if (!routeKey(pathname).startsWith(routeKey(mount))) return undefined;
    const rest = pathname.slice(mount.length);
    if (rest === "") return "/";
    return rest.startsWith("/") ? rest : undefined;
  }
}

/** A path segment as express decodes it into `req.params`; undefined when it is not valid percent-encoding. */
function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Core registers `OPTIONS *` for httpNodeCors: a route for another method is no route for this request. */
function handlesMethod(route: RouteLike, method: string): boolean {
  const handles = route._handles_method ?? route._handlesMethod;
  return handles ? handles.call(route, method) : true;
}

function layerMatches(layer: LayerLike, path: string): boolean {
  try {
    return layer.match?.(path) === true;
  } catch {
    // A malformed escape in the path: express answers it 400 itself.
    return false;
  }
}

const registries = new WeakMap<object, WebhookRoutes>();

export function webhookRoutesFor(app: Express): WebhookRoutes {
  let routes = registries.get(app);
  if (!routes) {
    routes = new WebhookRoutes(app as ExpressApp);
    registries.set(app, routes);
  }
  return routes;
}

type OwnershipTest = (pathname: string, method: string) => Ownership;

const guardedRoots = new WeakMap<object, OwnershipTest[]>();

const MALFORMED_SEGMENT = Buffer.from(
  JSON.stringify({ ok: false, error: "the last path segment is not valid percent-encoding" }),
);

/**
 * Node-RED mounts its admin app at the same root before the HTTP node app, and the admin app's JSON and
 * form parsers read every request body first (up to `apiMaxLength`, 5 MB; past it they fail the request
 * with Node-RED's HTML error page and its stack trace). A guard at the very top of the root app marks our
 * requests as parsed (`_body`), which every body-parser respects, so the stream reaches our handler
 * unread and its size limit applies before anything is buffered. A malformed escape below our path is
 * answered here, in JSON: express would fail it on its way to any route with a parameter, as HTML.
 */
function installBodyGuard(app: ExpressApp, ownership: OwnershipTest): void {
  let root: ExpressApp = app;
  while (root.parent) root = root.parent;
  const tests = guardedRoots.get(root);
  if (tests) {
    tests.push(ownership);
    return;
  }
  const list = [ownership];
  guardedRoots.set(root, list);
  const guard = (req: Request, res: Response, next: NextFunction) => {
    const url = req.url ?? "";
    const query = url.indexOf("?");
    const pathname = query === -1 ? url : url.slice(0, query);
    const answers = list.map((test) => test(pathname, req.method));
    if (answers.includes("ours")) {
      const guarded = req as unknown as GuardedRequest;
      if (!guarded._body) {
        guarded._body = true;
        guarded[UNREAD_BODY] = true;
      }
    } else if (answers.includes("malformed")) {
      res.writeHead(400, {
        "Content-Type": "application/json; charset=utf-8",
        "Content-Length": String(MALFORMED_SEGMENT.length),
      });
      res.end(MALFORMED_SEGMENT);
      return;
    }
    next();
  };
  root.use(guard);
  const router = routerOf(root);
  if (!router) return;
  const index = router.stack.findIndex((layer) => layer.handle === guard);
  if (index > 0) router.stack.unshift(...router.stack.splice(index, 1));
}

export function hasUnreadBody(req: IncomingMessage): boolean {
  return (req as GuardedRequest)[UNREAD_BODY] === true;
}

/** A request no body parser can have reached (a dedicated port): the receiver reads it with its own limit. */
export function keepBodyUnread(req: IncomingMessage): void {
  (req as GuardedRequest)[UNREAD_BODY] = true;
}
