import type { NodeDef } from "node-red";

import { DEFAULT_CAPTURE_COUNT, MAX_CAPTURE_COUNT } from "../connection/recent-deliveries";
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
  /** Empty: Node-RED's own HTTP server. A port number: a listener of its own on that port. */
  listenPort?: number | string;
  /** How many accepted deliveries to keep in memory for the editor's Clarus tab; 0 keeps none. */
  captureCount?: number | string;
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
  /** The dedicated port, or undefined for Node-RED's server. */
  listenPort?: number;
  captureCount: number;
}

/** `captureCount` as saved: empty (a node saved before it existed) is the default; else 0 to the maximum. */
export function captureCountOf(def: Pick<WebhookInDef, "captureCount">): number {
  const text = String(def.captureCount ?? "").trim();
  if (text === "") return DEFAULT_CAPTURE_COUNT;
  const count = Number(text);
  if (!/^\d+$/.test(text) || count > MAX_CAPTURE_COUNT) {
    throw new ConfigError(
      `captureCount ${JSON.stringify(text)} must be a whole number from 0 to ${MAX_CAPTURE_COUNT}`,
    );
  }
  return count;
}

/** `listenPort` as saved: empty (or absent) is Node-RED's server, else a whole number 1-65535. */
export function listenPortOf(def: Pick<WebhookInDef, "listenPort">): number | undefined {
  const text = String(def.listenPort ?? "").trim();
  if (text === "") return undefined;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 1 || port > 65535) {
    throw new ConfigError(`listenPort ${JSON.stringify(text)} must be empty or a port number 1-65535`);
  }
  return port;
}

/**
 * `listenerTrustProxy` is settings.js `clarus.listener.trustProxy`: on a dedicated port it applies to a node
 * whose own `trustProxy` is empty.
 */
export function webhookSettings(
  def: WebhookInDef,
  connection: ConnectionServices,
  listenerTrustProxy?: string | number,
): WebhookSettings {
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
  const listenPort = listenPortOf(def);
  return {
    path: normalisePath(String(def.path ?? "")),
    method,
    fixedEvent: event === "auto" || event === "" ? undefined : event,
    automationIds,
    requireToken,
    allowIps: new AddressList(String(def.allowIps ?? ""), "allowed IPs"),
    proxyTrust: new ProxyTrust(
      listenPort !== undefined && ["", "none"].includes(String(def.trustProxy ?? "").trim())
        ? listenerTrustProxy
        : def.trustProxy,
    ),
    maxBytes,
    dedupe: flag(def.dedupe, true),
    duplicatesOutput: flag(def.duplicatesOutput, false),
    listenPort,
    captureCount: captureCountOf(def),
  };
}
