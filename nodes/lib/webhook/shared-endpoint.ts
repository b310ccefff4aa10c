import type { RequestHandler } from "express";
import type { NodeAPI } from "node-red";

import type { EndpointRegistration, ServedRoute, WebhookEndpoint } from "./endpoint";
import { webhookRoutesFor } from "./route-registry";

/**
 * Routes on Node-RED's own HTTP server, beside the editor and every core `http in` (the default). A request
 * the route does not take goes on to the next route: `<path>/<segment>` that another route serves, and a
 * method another webhook-in at the same path has.
 */
export class SharedEndpoint implements WebhookEndpoint {
  constructor(private readonly RED: NodeAPI) {}

  serve(route: ServedRoute): EndpointRegistration {
    const routes = webhookRoutesFor(this.RED.httpNode);
    const release = routes.claim(route.nodeId, route.method, route.path, route.isToken);
    const handler: RequestHandler = (req, res, next) => {
      if (!route.isActive()) return next();
      const segment = typeof req.params.token === "string" ? req.params.token : undefined;
      // `<path>/<segment>` is ours when the segment is the token; else another route (a core http in one
      // level down, another webhook-in) gets it untouched, and without one it is a wrong token (401).
      if (
        segment !== undefined &&
        !route.isToken(segment) &&
        registration.otherRouteMatches(req.path, req.method)
      ) {
        return next();
      }
      if (req.method !== route.method && routes.methodsFor(route.path).includes(req.method)) return next();
      route.dispatch(req, res, segment);
    };
    const registration = routes.register(route.path, [...httpNodeMiddleware(this.RED), handler]);
    return {
      methodsFor: (path) => routes.methodsFor(path),
      label: route.path,
      remove: () => {
        registration.remove();
        release();
      },
    };
  }
}

/** The user's `httpNodeMiddleware` runs on our routes as on core's (a function or an array). */
function httpNodeMiddleware(RED: NodeAPI): RequestHandler[] {
  const middleware = (RED.settings as { httpNodeMiddleware?: RequestHandler | RequestHandler[] })
    .httpNodeMiddleware;
  if (typeof middleware === "function") return [middleware];
  if (Array.isArray(middleware)) return middleware.filter((entry) => typeof entry === "function");
  return [];
}
