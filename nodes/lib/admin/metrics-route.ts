import type { Request, Response } from "express";

import type { ConnectionServices } from "../connection/services";
import { clarusMetrics } from "../metrics/prometheus";
import { errorMessage } from "../node-red/errors";

/**
 * `GET <admin root>/clarus-wms/metrics`: the Prometheus text exposition of every deployed connection (behind
 * Node-RED's admin auth; Prometheus sends a bearer token of `adminAuth.tokens`). `deployed` lists the running
 * connections' services at each scrape.
 */
export function metricsHandler(deployed: () => ConnectionServices[]) {
  clarusMetrics.readFrom(() =>
    deployed().map((services) => ({
      label: services.metricsLabel,
      counters: services.counters,
      storeUp: services.store.health.state === "ready",
      driftRepairs: services.drift.repairs,
      inboxState: () => services.inboxState(),
      checkApi: (waitMs) => services.apiHealth(waitMs),
    })),
  );
  return (_req: Request, res: Response): void => {
    clarusMetrics.text().then(
      (text) => {
        res.set("Content-Type", clarusMetrics.contentType).send(text);
      },
      (error: unknown) => {
        res.status(500).json({ error: `the metrics could not be read: ${errorMessage(error)}` });
      },
    );
  };
}
