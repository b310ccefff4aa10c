import type { NextFunction, Request, RequestHandler, Response } from "express";

import type { ConnectionHealth, PartHealth } from "../connection/health";

/**
 * How long an answer waits for the Clarus token endpoint. The store is never awaited (its last known health
 * is read), so this is what bounds the answer: well inside the second a probe allows.
 */
export const HEALTH_WAIT_MS = 750;

/** What the endpoint asks of a deployed connection (its ConnectionServices). */
export interface HealthSource {
  health(waitMs: number): Promise<ConnectionHealth>;
}

export interface HealthRouteOptions {
  /** Every clarus-connection deployed now. */
  connections: () => Iterable<HealthSource>;
  /** Node-RED's admin auth for the full answer (`clarus-connection.read`). */
  adminAuth: RequestHandler;
  /** settings.js `clarus.publicHealth`: a request without credentials gets the states, without admin auth. */
  publicHealth: () => boolean;
  /** settings.js `adminAuth.tokenHeader`: a header other than Authorization that carries an admin token. */
  tokenHeader?: () => string | undefined;
}

/** A connection as the public answer shows it: states only, no name, no cause (a cause can name a host). */
export interface PublicConnectionHealth {
  id: string;
  ok: boolean;
  store: PartHealth;
  api: PartHealth;
  polls: ConnectionHealth["polls"];
}

/**
 * `GET <admin root>/clarus-wms/health`: 200 when every deployed connection is healthy, else 503, with each
 * connection's store, API token and poll nodes. Behind the admin auth; with `publicHealth`, a request that
 * carries no credentials is answered too, with states only. A request that carries credentials always goes
 * through the admin auth, so a wrong token is a 401, not a quieter answer.
 */
export function healthHandler(options: HealthRouteOptions): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (options.publicHealth() && !carriesCredentials(req, options.tokenHeader?.())) {
      void answer(res, options.connections(), statesOnly);
      return;
    }
    options.adminAuth(req, res, (error?: unknown) => {
      if (error) return next(error);
      void answer(res, options.connections(), (report) => report);
    });
  };
}

async function answer<T>(
  res: Response,
  sources: Iterable<HealthSource>,
  view: (report: ConnectionHealth) => T,
): Promise<void> {
  let reports: ConnectionHealth[];
  try {
    reports = await Promise.all([...sources].map((source) => source.health(HEALTH_WAIT_MS)));
  } catch {
    // Not expected (a report is made of what is known); a probe must still get an answer it can act on.
    res.status(503).set("Cache-Control", "no-store").json({ ok: false, connections: [] });
    return;
  }
  const ok = reports.every((report) => report.ok);
  res
    .status(ok ? 200 : 503)
    .set("Cache-Control", "no-store")
    .json({ ok, connections: reports.map(view) });
}

function statesOnly(report: ConnectionHealth): PublicConnectionHealth {
  const state = ({ ok, state }: PartHealth): PartHealth => ({ ok, state });
  return {
    id: report.id,
    ok: report.ok,
    store: state(report.store),
    api: state(report.api),
    polls: report.polls.map(({ node, stream, ok, failingSince }) => ({ node, stream, ok, failingSince })),
  };
}

/** A token where Node-RED's admin auth looks for one: Authorization, `access_token`, or its own token header. */
function carriesCredentials(req: Request, tokenHeader: string | undefined): boolean {
  if (req.headers.authorization !== undefined || req.query?.access_token !== undefined) return true;
  return typeof tokenHeader === "string" && req.headers[tokenHeader.toLowerCase()] !== undefined;
}
