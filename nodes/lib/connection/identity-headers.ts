import type { IncomingHttpHeaders } from "node:http";

import type { ClarusIdentity } from "../events/message";

/** Built once per endpoint; values are kept as configured and normalised for comparison. */
export interface ExpectedIdentity {
  subdomain: string;
  /** The tenant's login URL; empty means not checked. */
  domain?: string;
  /** The API base the connection uses; empty means not checked. */
  apiDomain?: string;
  /** Allowed automation ids; empty means any. */
  automationIds?: ReadonlySet<string>;
}

/** The expected identity with every value normalised, so a request compares without re-normalising. */
export function expectedIdentity(
  subdomain: string,
  domain: string,
  apiDomain: string,
  automationIds: ReadonlySet<string>,
): ExpectedIdentity {
  return {
    subdomain: subdomain.trim().toLowerCase(),
    domain: domain ? normaliseHost(domain) : undefined,
    apiDomain: apiDomain ? normaliseHost(apiDomain) : undefined,
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

/** Compares URLs the way a person would: no scheme, no case, no trailing slash (clarus.md §1.1). */
export function normaliseHost(value: string): string {
  return value
    .trim()
    .toLowerCase()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//, "")
    .replace(/\/+$/, "");
}

const NUMERIC_ID = /^\d{1,18}$/;

/** Why an identity does not match, or undefined when it does. Reasons name headers, never secrets. */
export function identityMismatch(identity: ClarusIdentity, expected: ExpectedIdentity): string | undefined {
  if (!identity.subdomain) return "missing header X-ClarusWMS-Subdomain";
  if (!identity.domain) return "missing header X-ClarusWMS-Domain";
  if (!identity.apiDomain) return "missing header X-ClarusWMS-API-Domain";
  if (!identity.automationId) return "missing header X-ClarusWMS-Automation-ID";
  if (identity.subdomain.toLowerCase() !== expected.subdomain) {
    return `X-ClarusWMS-Subdomain ${quote(identity.subdomain)} is not the connection's subdomain`;
  }
  if (expected.domain && normaliseHost(identity.domain) !== expected.domain) {
    return `X-ClarusWMS-Domain ${quote(identity.domain)} is not the connection's domain`;
  }
  if (expected.apiDomain && normaliseHost(identity.apiDomain) !== expected.apiDomain) {
    return `X-ClarusWMS-API-Domain ${quote(identity.apiDomain)} is not the connection's API URL`;
  }
  if (!NUMERIC_ID.test(identity.automationId)) return "X-ClarusWMS-Automation-ID is not a number";
  if (identity.integrationId !== undefined && !NUMERIC_ID.test(identity.integrationId)) {
    return "X-ClarusWMS-Integration-ID is not a number";
  }
  if (
    expected.automationIds &&
    expected.automationIds.size > 0 &&
    !expected.automationIds.has(identity.automationId)
  ) {
    return `automation ${identity.automationId} is not in the allowed list`;
  }
  return undefined;
}

/** Header values are attacker-controlled: shown short and printable only. */
function quote(value: string): string {
  const printable = value.replace(/[^\x20-\x7e]/g, "?");
  return JSON.stringify(printable.length > 60 ? `${printable.slice(0, 60)}…` : printable);
}
