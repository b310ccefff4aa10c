import type { NodeAPI } from "node-red";

import { ClarusClient } from "../api/client";
import { connectionRegistrar, type RegistrationReport } from "../automations/registration";
import {
  type ClarusConnectionNode,
  type ClarusTuning,
  DEFAULT_API_URL,
  stateDirOf,
} from "../connection/services";
import type { ConnectionCredentials } from "../connection/types";
import type { JsonObject } from "../json";
import { isPlainObject } from "../json";
import { ConfigError, errorMessage } from "../node-red/errors";
import { flag } from "../node-red/properties";
import { redactToken } from "../node-red/redact";
import { FileDocuments } from "../store/file/documents";
import { normalisePath } from "../webhook/route-registry";
import { applyToConnection, ensureRequest, registerEvents, shownUrl } from "../webhook/self-registration";
import { dialogCredentials, sameApiUrl } from "./dialog-credentials";

/** What the editor's "Register now" posts: the webhook dialog's fields and the connection as the editor has it. */
interface RegisterNowBody {
  node: JsonObject;
  connection: JsonObject;
}

export interface RegisterNowAnswer {
  status: number;
  body: JsonObject;
}

/**
 * The webhook dialog's "Register now": registration as a deploy would run it, with what the dialog holds (path,
 * method, token setting, events, the connection's fields) and the credentials of the dialog-credentials rule.
 * Answers what exists, was created, updated or disabled, or failed, or `{error}` with the reason when it could
 * not start (still a 200: the request was fine, the settings are not; a 4xx would be logged by the browser as a
 * failed request). Never a token in the answer.
 */
export async function registerNow(RED: NodeAPI, rawBody: unknown): Promise<RegisterNowAnswer> {
  let secret: string | undefined;
  try {
    const { node, connection } = readBody(rawBody);
    const connectionId = text(node.connection);
    if (!connectionId) throw new ConfigError("choose a Clarus connection first");
    const deployed = RED.nodes.getNode(connectionId) as ClarusConnectionNode | null;
    const apiUrl = text(connection.apiUrl) || deployed?.services?.apiUrl || DEFAULT_API_URL;
    const credentials = dialogCredentials(connection.credentials, apiUrl, {
      apiUrl: deployed?.services?.apiUrl,
      credentials: RED.nodes.getCredentials(connectionId) as ConnectionCredentials | undefined,
    });
    secret = credentials.webhookToken?.trim() || undefined;
    const subdomain = text(connection.subdomain) || deployed?.services?.subdomain || "";
    if (!subdomain) throw new ConfigError("the connection has no subdomain");
    const method = (text(node.method) || "POST").toUpperCase();
    if (method !== "POST" && method !== "GET")
      throw new ConfigError(`method must be POST or GET, not ${method}`);
    const events = registerEvents(node.register);
    if (events.length === 0) throw new ConfigError("choose at least one event to register");
    const accessToken = credentials.accessToken?.trim() || undefined;
    const clientId = credentials.clientId?.trim() || undefined;
    const clientSecret = credentials.clientSecret?.trim() || undefined;
    const request = ensureRequest({
      nodeId: text(node.id),
      events,
      listening: {
        path: normalisePath(text(node.path)),
        method,
        requireToken: flag(node.requireToken, secret !== undefined),
      },
      publicUrl:
        typeof connection.publicUrl === "string"
          ? connection.publicUrl
          : (deployed?.services?.publicUrl ?? ""),
      roots: RED.settings,
      token: secret,
      hasApiCredentials: Boolean(accessToken || (clientId && clientSecret)),
    });
    if (!/^[A-Za-z0-9._-]+$/.test(request.nodeId)) throw new ConfigError("the node has no valid id");

    const tuning = (RED.settings as { clarus?: ClarusTuning }).clarus ?? {};
    const client = new ClarusClient({ apiUrl, subdomain, clientId, clientSecret, accessToken, ...tuning });
    // The deployed connection's store (Redis, shared with other instances; or files), else its files.
    const store = deployed?.services?.store;
    const registrar = connectionRegistrar({
      connectionId,
      client,
      documents: store ?? new FileDocuments(stateDirOf(RED.settings.userDir)),
      lease: store && deployed?.services ? { store, ttlMs: deployed.services.leaseMs } : undefined,
      warn: (message) => RED.log.warn(message),
    });
    const report: RegistrationReport = await registrar.ensure(request);
    // Classification follows at once where the deployed connection is this tenant.
    const services = deployed?.services;
    if (services && sameApiUrl(services.apiUrl, apiUrl) && services.subdomain === subdomain)
      applyToConnection(services, report);
    return { status: 200, body: { url: shownUrl(request), ...report } as unknown as JsonObject };
  } catch (error) {
    const message = redactToken(errorMessage(error), secret);
    return { status: error instanceof ConfigError ? 200 : 500, body: { error: message } };
  }
}

function readBody(body: unknown): RegisterNowBody {
  if (!isPlainObject(body) || !isPlainObject(body.node)) {
    throw new ConfigError("the request needs the webhook node's settings (node)");
  }
  return { node: body.node, connection: isPlainObject(body.connection) ? body.connection : {} };
}

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : "";
}
