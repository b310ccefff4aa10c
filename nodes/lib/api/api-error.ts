import axios from "axios";

import { isPlainObject } from "../json";
import { errorMessage } from "../node-red/errors";

/**
 * What went wrong, precisely enough for a "Test connection" report or a registration status to tell the
 * user what to fix.
 */
export type ClarusApiReason =
  /** The client id and secret, or the pasted token, were refused. */
  | "credentials"
  /** Clarus does not know the subdomain (403 `subdomain_invalid` or `subdomain_missing`). */
  | "subdomain"
  /** Another 403: the API user may not do this. */
  | "forbidden"
  | "not-found"
  /** 422: Clarus refused a value; `apiErrors` say which field. */
  | "invalid"
  | "rate-limited"
  /** 5xx. */
  | "server"
  /** Any other HTTP status the call did not expect. */
  | "http"
  /** An answer that is not what the API documents: not JSON, no `data`. */
  | "response"
  /** GraphQL `errors`. */
  | "graphql"
  /** The host cannot be reached: DNS, connection refused, no route. */
  | "unreachable"
  /** A TLS failure: an untrusted, expired or mismatched certificate. */
  | "tls"
  /** The connection broke after it was made (reset, closed early). */
  | "network"
  | "timeout"
  /** The answer (or the request) is over the size cap. */
  | "too-large"
  /** The connection is not set up for the call (no credentials, a path that is not the API's). */
  | "config";

/** One entry of a Clarus REST error answer: `{"errors": [{code, symbol, details, source, context}]}`. */
export interface RestApiErrorEntry {
  code?: number;
  symbol?: string;
  details?: string;
  /** The field the error is about, when Clarus names one (a JSON pointer's last segment, or a name). */
  source?: string;
}

/** The broad class of a failure, for callers that only need to know which side of the call failed. */
export type ClarusApiErrorKind = "auth" | "http" | "graphql" | "network" | "timeout" | "config";

const KIND_OF_REASON: Record<ClarusApiReason, ClarusApiErrorKind> = {
  credentials: "auth",
  subdomain: "http",
  forbidden: "http",
  "not-found": "http",
  invalid: "http",
  "rate-limited": "http",
  server: "http",
  http: "http",
  response: "http",
  "too-large": "http",
  graphql: "graphql",
  unreachable: "network",
  tls: "network",
  network: "network",
  timeout: "timeout",
  config: "config",
};

export interface ClarusApiErrorOptions {
  /** What went wrong; without it, what the HTTP status says (`http` without a status). */
  reason?: ClarusApiReason;
  /** The HTTP status of the answer, when there was one. */
  status?: number;
  /** GraphQL `errors` as the API sent them. */
  graphqlErrors?: unknown[];
  /** GraphQL `data` sent beside the errors (partial results). */
  data?: unknown;
  /** The parsed `errors` of a REST error answer. */
  apiErrors?: RestApiErrorEntry[];
}

/** A failed API call. Messages name the status and the API's own words, never a token, secret or token URL. */
export class ClarusApiError extends Error {
  override name = "ClarusApiError";
  readonly reason: ClarusApiReason;
  readonly status?: number;
  readonly graphqlErrors?: unknown[];
  readonly data?: unknown;
  readonly apiErrors?: RestApiErrorEntry[];

  constructor(message: string, options: ClarusApiErrorOptions = {}) {
    super(message);
    this.status = options.status;
    this.reason = options.reason ?? (options.status === undefined ? "http" : reasonOfStatus(options.status));
    this.graphqlErrors = options.graphqlErrors;
    this.data = options.data;
    this.apiErrors = options.apiErrors;
  }

  /** Which side failed (auth, http, graphql, network, timeout, config): it follows from the reason. */
  get kind(): ClarusApiErrorKind {
    return KIND_OF_REASON[this.reason];
  }
}

export function reasonOfStatus(status: number): ClarusApiReason {
  if (status === 401) return "credentials";
  if (status === 403) return "forbidden";
  if (status === 404) return "not-found";
  if (status === 413) return "too-large";
  if (status === 422) return "invalid";
  if (status === 429) return "rate-limited";
  if (status >= 500) return "server";
  return "http";
}

// Failures of the connect phase: the request never left this machine, so sending it again is safe.
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EAI_FAIL",
  "EAI_NONAME",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "EADDRNOTAVAIL",
]);

const TLS_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "EPROTO",
]);

/** A request that failed without an HTTP answer, classified. */
export interface TransportFailure {
  error: ClarusApiError;
  /** True when the connection failed before anything was sent (safe to send a mutation again). */
  notSent: boolean;
  /** A few words for a status line: "timed out", "network error (ECONNRESET)". */
  short: string;
}

/** Classifies an axios failure (other than an abort, which the caller handles). */
export function transportFailure(error: unknown): TransportFailure {
  const code = axios.isAxiosError(error) ? (error.code ?? "") : "";
  const text = errorMessage(error);
  if (/maxContentLength|maxBodyLength/.test(text)) {
    const request = /maxBodyLength/.test(text);
    const config = axios.isAxiosError(error) ? error.config : undefined;
    const limit = request ? config?.maxBodyLength : config?.maxContentLength;
    return failure(
      `the ${request ? "request to" : "answer of"} the Clarus API is over the size limit` +
        (limit ? ` of ${limit} bytes (settings.js clarus.maxResponseBytes)` : ""),
      "too-large",
      false,
      "too large",
    );
  }
  if (NOT_SENT_CODES.has(code)) {
    const dns = code.startsWith("EAI_") || code === "ENOTFOUND";
    return failure(
      `the Clarus API host cannot be reached (${code}${dns ? ": the host name is not known" : ""})`,
      "unreachable",
      true,
      `network error (${code})`,
    );
  }
  if (TLS_CODES.has(code) || code.startsWith("CERT_") || code.startsWith("ERR_SSL_")) {
    return failure(`TLS failed talking to the Clarus API (${code})`, "tls", false, `TLS (${code})`);
  }
  return failure(
    `network error talking to the Clarus API (${code || text})`,
    "network",
    false,
    `network error (${code || "unknown"})`,
  );
}

function failure(
  message: string,
  reason: ClarusApiReason,
  notSent: boolean,
  short: string,
): TransportFailure {
  return { error: new ClarusApiError(message, { reason }), notSent, short };
}

/** Reads a Clarus REST error body, in the shapes Clarus documents: 401 `{"error"}`, else `{"errors":[...]}`. */
export function restApiErrors(body: unknown): { text?: string; entries: RestApiErrorEntry[] } {
  if (!isPlainObject(body)) return { entries: [] };
  if (typeof body.error === "string") {
    const description = typeof body.error_description === "string" ? `: ${body.error_description}` : "";
    return { text: `${body.error}${description}`, entries: [] };
  }
  if (!Array.isArray(body.errors)) return { entries: [] };
  const entries = body.errors.filter(isPlainObject).map((entry): RestApiErrorEntry => ({
    code: typeof entry.code === "number" ? entry.code : undefined,
    symbol: typeof entry.symbol === "string" ? entry.symbol : undefined,
    details:
      typeof entry.details === "string"
        ? entry.details
        : typeof entry.message === "string"
          ? entry.message
          : undefined,
    source: fieldOf(entry.source),
  }));
  const text = entries
    .map((entry) => {
      const words = entry.details ?? entry.symbol ?? (entry.code !== undefined ? `error ${entry.code}` : "");
      return entry.source && !words.includes(entry.source) ? `${entry.source}: ${words}` : words;
    })
    .filter(Boolean)
    .join("; ");
  return { text: text || undefined, entries };
}

/** `source` as a field name: `"/data/attributes/name"` → `name`; `{pointer}` or `{parameter}` likewise. */
function fieldOf(source: unknown): string | undefined {
  const raw = isPlainObject(source) ? (source.pointer ?? source.parameter) : source;
  if (typeof raw !== "string" || raw.trim() === "") return undefined;
  const segments = raw.split("/").filter(Boolean);
  return segments[segments.length - 1] ?? raw;
}

const URL_PATTERN = /\bhttps?:\/\/[^\s"'<>]+/gi;
const MAX_TEXT = 300;

/**
 * Text from the API made safe for a message: every URL cut to its origin (a webhook URL carries the
 * token in its path), every known secret replaced, and the length capped.
 */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let safe = text.replace(URL_PATTERN, (url) => {
    try {
      return `${new URL(url).origin}/…`;
    } catch {
      return "<url>";
    }
  });
  for (const secret of secrets) {
    if (secret && secret.length >= 4) safe = safe.split(secret).join("[redacted]");
  }
  return safe.length > MAX_TEXT ? `${safe.slice(0, MAX_TEXT)}…` : safe;
}
