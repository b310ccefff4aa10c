import { readFileSync } from "node:fs";

import { ConfigError } from "../node-red/errors";

/** settings.js `clarus.listener`: how every dedicated webhook port listens. */
export interface ListenerSettingsDef {
  /** The address to bind (default `0.0.0.0`). */
  host?: string;
  /** Paths of the PEM key, certificate (chain) and CA file(s); with key and cert the port speaks HTTPS. */
  key?: string;
  cert?: string;
  ca?: string | string[];
  /** The proxies trusted on a dedicated port, for a webhook-in whose own `trustProxy` is empty. */
  trustProxy?: string | number;
}

export interface ListenerTls {
  key: Buffer;
  cert: Buffer;
  ca?: Buffer[];
}

export interface ListenerOptions {
  host: string;
  tls?: ListenerTls;
  trustProxy?: string | number;
}

export const DEFAULT_LISTENER_HOST = "0.0.0.0";

/**
 * Reads `clarus.listener` and the files it names, at each deploy of a node that uses a dedicated port, so a
 * renewed certificate is taken at the next redeploy. A file that cannot be read is a clear error naming the
 * setting, never its contents.
 */
export function listenerOptions(settings: { clarus?: { listener?: ListenerSettingsDef } }): ListenerOptions {
  const def = settings.clarus?.listener ?? {};
  const host = def.host === undefined || def.host === "" ? DEFAULT_LISTENER_HOST : String(def.host);
  const options: ListenerOptions = { host, trustProxy: def.trustProxy };
  if (def.key === undefined && def.cert === undefined) {
    if (def.ca !== undefined) throw new ConfigError("clarus.listener.ca is set without a key and cert");
    return options;
  }
  if (!def.key || !def.cert) throw new ConfigError("clarus.listener needs both key and cert for HTTPS");
  const cas = def.ca === undefined ? [] : Array.isArray(def.ca) ? def.ca : [def.ca];
  options.tls = {
    key: readPem("clarus.listener.key", def.key),
    cert: readPem("clarus.listener.cert", def.cert),
    ca: cas.length > 0 ? cas.map((path, i) => readPem(`clarus.listener.ca[${i}]`, path)) : undefined,
  };
  return options;
}

function readPem(setting: string, path: unknown): Buffer {
  if (typeof path !== "string" || path === "") throw new ConfigError(`${setting} must be a file path`);
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    throw new ConfigError(`${setting}: cannot read ${path} (${code})`);
  }
}
