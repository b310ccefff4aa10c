import type { IncomingHttpHeaders } from "node:http";

import type { ClarusIdentity } from "../events/message";

/**
 * API hosts Clarus documents: `clarus-api.com` and its staging host, and the newer `api.clarus.ws` with its
 * staging and mirror forms. `X-ClarusWMS-API-Domain` may name any of them, whichever the API URL is.
 */
export const DOCUMENTED_API_HOSTS: readonly string[] = [
  "clarus-api.com",
  "clarus-api-staging.com",
  "api.clarus.ws",
  "api.clarussoftware.co.uk",
  "api.clarus-mirror.co.uk",
];

/** The newer environments also list a wildcard API host, `*.api.<domain>`. */
const DOCUMENTED_API_WILDCARDS = ["clarus.ws", "clarussoftware.co.uk", "clarus-mirror.co.uk"].map(
  (domain) => `.api.${domain}`,
);

/** Built once per endpoint; values are kept as configured and normalised for comparison. */
export interface ExpectedIdentity {
  subdomain: string;
  /** The tenant's login URL, normalised; undefined means not checked. */
  domain?: string;
  /** What `X-ClarusWMS-API-Domain` may name. */
  apiDomain: ApiDomainRule;
  /** Allowed automation ids; empty means any. */
  automationIds?: ReadonlySet<string>;
}

export interface ApiDomainRule {
  /** The one host the user pinned (the connection's `apiDomain`); undefined: the documented hosts. */
  pinned?: string;
  /** The hosts accepted when nothing is pinned: the documented ones and the API URL's. */
  hosts: ReadonlySet<string>;
}

/** The expected identity with every value normalised, so a request compares without re-normalising. */
export function expectedIdentity(
  subdomain: string,
  domain: string,
  apiUrl: string,
  automationIds: ReadonlySet<string>,
  pinnedApiDomain = "",
): ExpectedIdentity {
  const hosts = new Set(DOCUMENTED_API_HOSTS);
  if (apiUrl.trim()) hosts.add(hostOf(apiUrl));
  return {
    subdomain: subdomain.trim().toLowerCase(),
    domain: domain.trim() ? normaliseHost(domain) : undefined,
    apiDomain: { pinned: pinnedApiDomain.trim() ? hostOf(pinnedApiDomain) : undefined, hosts },
    automationIds,
  };
}

export function readIdentity(headers: IncomingHttpHeaders): ClarusIdentity {
  return {
    domain: single(headers["x-claruswms-domain"]),
    apiDomain: single(headers["x-claruswms-api-domain"]),
    subdomain: single(headers["x-claruswms-subdomain"]),
    automationId: single(headers["x-claruswms-automation-id"]),
    integrationId: single(headers["x-claruswms-integration-id"]),
  };
}

function single(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  const trimmed = text?.trim();
  return trimmed === "" ? undefined : trimmed;
}

/** Compares URLs the way a person would: no scheme, no case, no trailing slash. Clarus documents no exact form. */
export function normaliseHost(value: string): string {
  return value
    .trim()
    .toLowerCase()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//, "")
    .replace(/\/+$/, "");
}

/** The host (and a port that is not the default) of a URL or a bare host: `https://api.clarus.ws/api/` → `api.clarus.ws`. */
export function hostOf(value: string): string {
  const host = normaliseHost(value).split(/[/?#]/)[0] ?? "";
  return host
    .replace(/^[^@]*@/, "")
    .replace(/\.$/, "")
    .replace(/:(80|443)$/, "");
}

function acceptsApiHost(rule: ApiDomainRule, host: string): boolean {
  if (rule.pinned !== undefined) return host === rule.pinned;
  return rule.hosts.has(host) || DOCUMENTED_API_WILDCARDS.some((suffix) => host.endsWith(suffix));
}

const NUMERIC_ID = /^\d{1,18}$/;

/** Why an identity does not match: short for the caller, with what was expected for the user. */
export interface IdentityMismatch {
  /** The answer's reason: names the header and what it carried, never a secret or the configuration. */
  message: string;
  /** For the node's log: what the connection expected, and how to accept the value if it is right. */
  detail?: string;
  /** The identity header at fault and its value as a status shows it (a URL's host, printable, short). */
  header?: "Domain" | "API-Domain" | "Subdomain";
  shown?: string;
}

/** Why an identity does not match, or undefined when it does. */
export function identityMismatch(
  identity: ClarusIdentity,
  expected: ExpectedIdentity,
): IdentityMismatch | undefined {
  if (!identity.subdomain) return { message: "missing header X-ClarusWMS-Subdomain" };
  if (!identity.domain) return { message: "missing header X-ClarusWMS-Domain" };
  if (!identity.apiDomain) return { message: "missing header X-ClarusWMS-API-Domain" };
  if (!identity.automationId) return { message: "missing header X-ClarusWMS-Automation-ID" };
  if (identity.subdomain.toLowerCase() !== expected.subdomain) {
    return {
      message: `X-ClarusWMS-Subdomain ${quote(identity.subdomain)} is not the connection's subdomain`,
      header: "Subdomain",
      shown: printable(identity.subdomain),
    };
  }
  if (expected.domain && normaliseHost(identity.domain) !== expected.domain) {
    return {
      message: `X-ClarusWMS-Domain ${quote(identity.domain)} is not the connection's login URL`,
      detail:
        `the connection's login URL is ${quote(expected.domain)}; if Clarus is right, set the login URL to ` +
        `${quote(normaliseHost(identity.domain))}, or leave it empty to not check it`,
      header: "Domain",
      shown: printable(normaliseHost(identity.domain)),
    };
  }
  const apiHost = hostOf(identity.apiDomain);
  if (!acceptsApiHost(expected.apiDomain, apiHost)) {
    const { pinned, hosts } = expected.apiDomain;
    return {
      message: `X-ClarusWMS-API-Domain ${quote(identity.apiDomain)} is not an API domain the connection accepts`,
      detail:
        pinned !== undefined
          ? `the connection's API domain is pinned to ${quote(pinned)}; if Clarus is right, set it to ` +
            `${quote(apiHost)}, or leave it empty to accept the documented Clarus API hosts`
          : `the connection accepts the documented Clarus API hosts and its API URL's (${[...hosts].join(", ")}); ` +
            `if Clarus is right, set the connection's API domain to ${quote(apiHost)}`,
      header: "API-Domain",
      shown: printable(apiHost),
    };
  }
  if (!NUMERIC_ID.test(identity.automationId))
    return { message: "X-ClarusWMS-Automation-ID is not a number" };
  if (identity.integrationId !== undefined && !NUMERIC_ID.test(identity.integrationId)) {
    return { message: "X-ClarusWMS-Integration-ID is not a number" };
  }
  if (
    expected.automationIds &&
    expected.automationIds.size > 0 &&
    !expected.automationIds.has(identity.automationId)
  ) {
    return { message: `automation ${identity.automationId} is not in the allowed list` };
  }
  return undefined;
}

/** Header values are attacker-controlled: shown short and printable only. */
export function printable(value: string): string {
  const text = value.replace(/[^\x20-\x7e]/g, "?");
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** A header value in quotes, as messages name it. */
export function quote(value: string): string {
  return JSON.stringify(printable(value));
}
