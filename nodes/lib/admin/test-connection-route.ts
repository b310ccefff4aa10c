import type { Request, Response } from "express";

import type { ObservedWebhook } from "../connection/observed-identity";
import type { ClarusTuning } from "../connection/services";
import type { ConnectionCredentials } from "../connection/types";
import { isPlainObject } from "../json";
import { errorMessage } from "../node-red/errors";
import { type DeployedCredentials, dialogCredentials } from "./dialog-credentials";
import {
  type ConnectionUnderTest,
  testConnection,
  type TestReport,
  webhookStep,
  withSummary,
} from "./test-connection";

/**
 * `POST /clarus-wms/test-connection` with the connection dialog's values, before or after deploy. A secret
 * the user did not type again arrives as a placeholder and is taken from the deployed connection of the same
 * id, but only for the API URL it was deployed with: a stored secret is never sent anywhere else. What the
 * deployed connection's webhook-in nodes last saw Clarus send is added (`webhooks`).
 */
export function testConnectionHandler(
  deployed: (id: string) => DeployedCredentials | undefined,
  tuning: () => ClarusTuning | undefined,
  observedWebhooks: (id: string) => readonly ObservedWebhook[] = () => [],
) {
  return async (req: Request, res: Response): Promise<void> => {
    const body: unknown = req.body;
    if (!isPlainObject(body)) {
      res.status(400).json({ error: "send the connection's fields as a JSON object" });
      return;
    }
    const text = (key: string): string => (typeof body[key] === "string" ? (body[key] as string) : "");
    let credentials: ConnectionCredentials;
    try {
      credentials = dialogCredentials(body, text("apiUrl"), deployed(text("id")));
    } catch (error) {
      res.json(refused(errorMessage(error)));
      return;
    }
    const input: ConnectionUnderTest = {
      apiUrl: text("apiUrl"),
      subdomain: text("subdomain"),
      clientId: credentials.clientId ?? "",
      clientSecret: credentials.clientSecret ?? "",
      accessToken: credentials.accessToken ?? "",
    };
    try {
      let report: TestReport = await testConnection(input, tuning());
      const webhooks = webhookStep(observedWebhooks(text("id")));
      if (webhooks) {
        report.webhooks = webhooks;
        report.ok = report.ok && webhooks.ok;
        report = withSummary(report, input);
      }
      res.json(report);
    } catch (error) {
      // A bug, not a failed connection: still an answer, never an unhandled rejection.
      res.status(500).json(refused(`the test itself failed: ${errorMessage(error)}`));
    }
  };
}

function refused(text: string) {
  return { ok: false, token: { ok: false, text } };
}
