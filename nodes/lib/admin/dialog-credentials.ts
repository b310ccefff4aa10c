import type { ConnectionCredentials } from "../connection/types";
import { isPlainObject } from "../json";
import { ConfigError } from "../node-red/errors";

/** What the editor puts in a password field whose secret is stored and was not typed again. */
export const STORED_SECRET = "__PWRD__";

/** The API credentials a dialog action (Test connection, Register now) can send. */
export const DIALOG_CREDENTIAL_KEYS = ["clientId", "clientSecret", "accessToken", "webhookToken"] as const;

/** A deployed connection as a dialog action sees it: the API URL it was deployed with, and its credentials. */
export interface DeployedCredentials {
  apiUrl?: string;
  credentials?: ConnectionCredentials;
}

/**
 * The one rule for credentials in a dialog action: what the user typed wins; a field left as the editor's
 * placeholder, or not sent, takes the deployed connection's secret, but only for the API URL that connection was
 * deployed with, so a stored secret is never sent to a host the user typed since. A placeholder that cannot be
 * resolved is a ConfigError naming what to do (type it again); a field not sent is then simply absent.
 */
export function dialogCredentials(
  typed: unknown,
  apiUrl: string,
  deployed: DeployedCredentials | undefined,
): ConnectionCredentials {
  const fields = isPlainObject(typed) ? typed : {};
  const stored = deployed?.credentials;
  const storedUsable = stored !== undefined && sameApiUrl(deployed?.apiUrl, apiUrl);
  const credentials: ConnectionCredentials = {};
  for (const key of DIALOG_CREDENTIAL_KEYS) {
    const value = fields[key];
    if (typeof value === "string" && value !== STORED_SECRET) {
      credentials[key] = value;
      continue;
    }
    if (value === STORED_SECRET && !storedUsable) {
      throw new ConfigError(
        stored === undefined
          ? "the stored secret belongs to a connection that is not deployed: type it again"
          : "the API URL changed since deploy: type the secret again to send it there",
      );
    }
    if (storedUsable && stored[key] !== undefined) credentials[key] = stored[key];
  }
  return credentials;
}

/** Two API URLs name the same API when scheme, host, port and path agree (host case and a trailing slash aside). */
export function sameApiUrl(a: string | undefined, b: string | undefined): boolean {
  return normalApiUrl(a) === normalApiUrl(b);
}

function normalApiUrl(url: string | undefined): string {
  const text = String(url ?? "").trim();
  try {
    const parsed = new URL(text);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, "")}${parsed.search}`;
  } catch {
    return text.replace(/\/+$/, "");
  }
}
