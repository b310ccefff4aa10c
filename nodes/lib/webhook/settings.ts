import type { NodeDef } from "node-red";

import type { ConnectionServices } from "../connection/services";
import { isKnownEvent } from "../events/vocabulary";
import { ConfigError, NotConfiguredError } from "../node-red/errors";
import { flag } from "../node-red/properties";
import { AddressList, ProxyTrust } from "./client-address";
import { normalisePath } from "./route-registry";

/** The webhook-in node's properties as the editor saves them, and their parsing, checked once at deploy. */

export interface WebhookInDef extends NodeDef {
  connection: string;
  path: string;
  method?: string;
  event?: string;
  automationIds?: string;
  requireToken?: boolean | string;
  allowIps?: string;
  trustProxy?: string;
  maxBytes?: number | string;
  dedupe?: boolean | string;
  duplicatesOutput?: boolean | string;
}

export const DEFAULT_MAX_BYTES = 1_048_576;

/** The settings a receiver runs with, checked once at deploy. */
export interface WebhookSettings {
  path: string;
  method: "POST" | "GET";
  fixedEvent?: string;
  automationIds: ReadonlySet<string>;
  requireToken: boolean;
  allowIps: AddressList;
  proxyTrust: ProxyTrust;
  maxBytes: number;
  dedupe: boolean;
  duplicatesOutput: boolean;
}

export function webhookSettings(def: WebhookInDef, connection: ConnectionServices): WebhookSettings {
  const method = String(def.method || "POST").toUpperCase();
  if (method !== "POST" && method !== "GET")
    throw new ConfigError(`method must be POST or GET, not ${method}`);
  const event = String(def.event ?? "auto").trim();
  if (event !== "auto" && event !== "" && !isKnownEvent(event)) {
    throw new ConfigError(`event ${JSON.stringify(event)} is not a known Clarus event`);
  }
  const automationIds = new Set(
    String(def.automationIds ?? "")
      .split(/[\s,]+/)
      .filter(Boolean),
  );
  for (const id of automationIds) {
    if (!/^\d+$/.test(id)) throw new ConfigError(`automation id ${JSON.stringify(id)} is not a number`);
  }
  const requireToken = flag(def.requireToken, connection.webhookToken !== undefined);
  if (requireToken && !connection.webhookToken) {
    throw new NotConfiguredError("a token is required but the connection has no webhook token");
  }
  if (!connection.subdomain) throw new NotConfiguredError("the connection has no subdomain");
  const maxBytes = Number(def.maxBytes ?? DEFAULT_MAX_BYTES) || DEFAULT_MAX_BYTES;
  if (!Number.isInteger(maxBytes) || maxBytes <= 0)
    throw new ConfigError("maxBytes must be a positive whole number");
  return {
    path: normalisePath(String(def.path ?? "")),
    method,
    fixedEvent: event === "auto" || event === "" ? undefined : event,
    automationIds,
    requireToken,
    allowIps: new AddressList(String(def.allowIps ?? ""), "allowed IPs"),
    proxyTrust: new ProxyTrust(def.trustProxy),
    maxBytes,
    dedupe: flag(def.dedupe, true),
    duplicatesOutput: flag(def.duplicatesOutput, false),
  };
}
