import type { IncomingMessage } from "node:http";

import type { Express, NextFunction, Request, RequestHandler, Response } from "express";

import { ConfigError } from "../node-red/errors";

export class RouteConflictError extends ConfigError {
  override name = "RouteConflictError";
}

/** Set on a request whose body the root guard kept unread for one of our routes. */
export const UNREAD_BODY = Symbol("clarus.unreadBody");

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
  /** True when a route other than this one (a core `http in`, another webhook-in) takes `method path`. */
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
  /** Full path (under the HTTP node root) -> the token tests of the nodes that claimed it. */
  private readonly fullPaths = new Map<string, TokenTest[]>();

  constructor(private readonly app: ExpressApp) {
    installBodyGuard(app, (pathname) => this.ownsPathname(pathname));
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
    const fullPath = routeKey(joinPaths(this.app.path(), path));
    this.fullPaths.set(fullPath, [...(this.fullPaths.get(fullPath) ?? []), isToken]);
    return () => {
      if (methods.get(method) === nodeId) methods.delete(method);
      if (methods.size === 0) this.claims.delete(key);
      const rest = (this.fullPaths.get(fullPath) ?? []).filter((test) => test !== isToken);
      if (rest.length === 0) this.fullPaths.delete(fullPath);
      else this.fullPaths.set(fullPath, rest);
    };
  }

  methodsFor(path: string): string[] {
    return [...(this.claims.get(routeKey(path))?.keys() ?? [])];
  }

  /** Registers `path` and `path/<token>` for every method: wrong methods get a 405 from us, not a 404. */
  register(path: string, handlers: RequestHandler[]): RouteRegistration {
    const own = handlers[handlers.length - 1];
    this.app.all([path, `${path}/:token`], ...handlers);
    const isOwn = (layer: LayerLike) => layer.route?.stack.some((entry) => entry.handle === own) === true;
    return {
      remove: () => {
        const router = routerOf(this.app);
        if (!router) return;
        router.stack = router.stack.filter((layer) => !isOwn(layer));
      },
      otherRouteMatches: (path, method) =>
        routerOf(this.app)?.stack.some(
          (layer) =>
            layer.route !== undefined &&
            !isOwn(layer) &&
            handlesMethod(layer.route, method) &&
            layerMatches(layer, path),
        ) ?? false,
    };
  }

  /** Our exact paths, and `<path>/<token>`: a core `http in` one segment below must keep its body parser. */
  private ownsPathname(pathname: string): boolean {
    if (this.fullPaths.size === 0) return false;
    const cleaned = pathname.replace(/\/{2,}/g, "/").replace(/\/+$/, "");
    const key = routeKey(cleaned);
    if (this.fullPaths.has(key)) return true;
    const slash = cleaned.lastIndexOf("/");
    const tests = slash > 0 ? this.fullPaths.get(key.slice(0, slash)) : undefined;
    if (!tests) return false;
    const segment = decodeSegment(cleaned.slice(slash + 1));
    return segment !== undefined && tests.some((isToken) => isToken(segment));
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

function joinPaths(mountPath: string, path: string): string {
  return `${mountPath}/${path}`.replace(/\/{2,}/g, "/");
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

const guardedRoots = new WeakMap<object, ((pathname: string) => boolean)[]>();

/**
 * Node-RED mounts its admin app at the same root before the HTTP node app, and the admin app's JSON
 * parser reads every request body first. A guard at the very top of the root app marks our requests as
 * parsed (`_body`), which every body-parser respects, so the stream reaches our handler unread and the
 * size limit applies before anything is buffered (research/nodered.md §2.8).
 */
function installBodyGuard(app: ExpressApp, owns: (pathname: string) => boolean): void {
  let root: ExpressApp = app;
  while (root.parent) root = root.parent;
  const matchers = guardedRoots.get(root);
  if (matchers) {
    matchers.push(owns);
    return;
  }
  const list = [owns];
  guardedRoots.set(root, list);
  const guard = (req: Request, _res: Response, next: NextFunction) => {
    const url = req.url ?? "";
    const query = url.indexOf("?");
    const pathname = query === -1 ? url : url.slice(0, query);
    if (list.some((matches) => matches(pathname))) {
      const guarded = req as unknown as GuardedRequest;
      if (!guarded._body) {
        guarded._body = true;
        guarded[UNREAD_BODY] = true;
      }
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
