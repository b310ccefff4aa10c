import type { Request, Response } from "express";

import { errorMessage } from "../node-red/errors";
import { isPlainObject } from "../json";
import type { ConnectionCredentials } from "../connection/types";
import type { ClarusTuning } from "../connection/services";
import type { ObservedWebhook } from "../connection/observed-identity";
import { testConnection, webhookStep, type ConnectionUnderTest, type TestReport } from "./test-connection";

/** What the editor shows in a password field whose secret is stored and was not typed again. */
const STORED_SECRET = "__PWRD__";

export interface DeployedConnection {
  credentials?: ConnectionCredentials;
  apiUrl?: string;
}

/**
 * `POST /clarus-wms/test-connection` with the connection dialog's values, before or after deploy. A secret
 * the user did not type again arrives as a placeholder and is taken from the deployed connection of the same
 * id, but only for the API URL it was deployed with: a stored secret is never sent anywhere else. What the
 * deployed connection's webhook-in nodes last saw Clarus send is added (`webhooks`).
 */
export function testConnectionHandler(
  deployed: (id: string) => DeployedConnection | undefined,
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
    const input: ConnectionUnderTest = {
      apiUrl: text("apiUrl"),
      subdomain: text("subdomain"),
      clientId: text("clientId"),
      clientSecret: text("clientSecret"),
      accessToken: text("accessToken"),
    };
    const secrets = ["clientSecret", "accessToken"] as const;
    if (secrets.some((key) => input[key] === STORED_SECRET)) {
      const stored = deployed(text("id"));
      if (!stored?.credentials) {
        res.json(refused("the stored secret belongs to a connection that is not deployed: type it again"));
        return;
      }
      if (normalUrl(stored.apiUrl) !== normalUrl(input.apiUrl)) {
        res.json(refused("the API URL changed since deploy: type the secret again to send it there"));
        return;
      }
      for (const key of secrets) if (input[key] === STORED_SECRET) input[key] = stored.credentials[key] ?? "";
    }
    try {
      const report: TestReport = await testConnection(input, tuning());
      const webhooks = webhookStep(observedWebhooks(text("id")));
      if (webhooks) {
        report.webhooks = webhooks;
        report.ok = report.ok && webhooks.ok;
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

function normalUrl(url: string | undefined): string {
  return String(url ?? "")
    .trim()
    .replace(/\/+$/, "")
    .toLowerCase();
}
