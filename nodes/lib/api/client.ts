import axios, { AxiosInstance, AxiosRequestConfig, AxiosResponse } from "axios";

import type { JsonObject } from "../json";
import { isPlainObject } from "../json";
import { AttemptSignal, raceSignal } from "./abort";
import type { ClarusApiReason, TransportFailure } from "./api-error";
import { ClarusApiError, reasonOfStatus, redact, restApiErrors, transportFailure } from "./api-error";
import { DEFAULT_RETRY, fullJitterDelay, retryAfterMs, RetryPolicy, sleep } from "./backoff";
import { operationType } from "./graphql-operation";

export type { ClarusApiErrorKind, ClarusApiReason, RestApiErrorEntry } from "./api-error";
export { ClarusApiError } from "./api-error";

export interface ClarusClientOptions {
  apiUrl: string;
  subdomain: string;
  clientId?: string;
  clientSecret?: string;
  accessToken?: string;
  /** The deadline of one attempt, from sending the request to the last byte of the answer. */
  timeoutMs?: number;
  /** The largest answer accepted (and request sent), in bytes. */
  maxResponseBytes?: number;
  retry?: Partial<RetryPolicy>;
  random?: () => number;
}

export interface RetryInfo {
  attempt: number;
  delayMs: number;
  reason: string;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Called before each retry, so the caller can show it (status, log). */
  onRetry?: (info: RetryInfo) => void;
  /**
   * Called with the API's clock at the moment a request was sent: the answer's `Date` header (whole
   * seconds, so never late) less the round trip. A poll keeps its watermark in the API's time with it.
   */
  onServerClock?: (serverMsAtSend: number) => void;
}

export interface GraphqlRequestOptions extends RequestOptions {
  /** Which operation of the document to run, when it holds several (sent as `operationName`). */
  operationName?: string;
}

export type RestMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface RestRequestOptions extends RequestOptions {
  /** The JSON body (JSON:API for Clarus: `{"data": {"type", "attributes"}}`). */
  body?: JsonObject;
  /** Query string parameters. */
  params?: Record<string, string | number | boolean>;
  /** Values the answer might echo that must never reach a message, e.g. the webhook token. */
  secrets?: readonly string[];
}

interface CachedToken {
  value: string;
  expiresAt: number;
}

/** Whether a call may be sent again after a failure that might have reached the server. */
type Repeat = "safe" | "unsafe";

export const DEFAULT_TIMEOUT_MS = 30_000;
/** Large enough for any page and the tenant's schema, small enough that a runaway answer cannot exhaust memory. */
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
// Refresh a little early so a token never expires between the check and the request.
const TOKEN_EXPIRY_MARGIN_MS = 60_000;
const DEFAULT_TOKEN_LIFETIME_S = 3600;
const REST_PATH = /^\/api\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;
const SAFE_METHODS: ReadonlySet<RestMethod> = new Set(["GET", "PUT", "DELETE"]);

/**
 * The Clarus API for one connection: OAuth2 client credentials (one shared token request, refreshed
 * once on 401) or a static token, the `X-Clarus-Subdomain` header, a total deadline per attempt, a
 * size cap on answers, and bounded retries: `Retry-After` on 429; full-jitter backoff on 5xx, timeouts
 * and network errors, but only for calls that are safe to repeat (queries, GET/PUT/DELETE). A mutation
 * or a POST/PATCH is sent again only after a 429 or a connection that failed before anything was sent.
 * GraphQL `errors` fail the call even with HTTP 200 and partial data.
 */
export class ClarusClient {
  private readonly http: AxiosInstance;
  private readonly retry: RetryPolicy;
  private readonly random: () => number;
  private readonly timeoutMs: number;
  /** Aborts token requests, which no caller owns, when the connection closes. */
  private readonly lifetime = new AbortController();
  private token?: CachedToken;
  private tokenRequest?: Promise<CachedToken>;
  /** Retry notices of the token request go to every caller waiting for it. */
  private readonly tokenWaiters = new Set<(info: RetryInfo) => void>();

  constructor(private readonly options: ClarusClientOptions) {
    if (!options.accessToken && !(options.clientId && options.clientSecret)) {
      throw new ClarusApiError("the connection has no API credentials (client id and secret, or a token)", {
        reason: "config",
      });
    }
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.random = options.random ?? Math.random;
    this.timeoutMs = positive(options.timeoutMs, DEFAULT_TIMEOUT_MS);
    const maxBytes = Math.floor(positive(options.maxResponseBytes, DEFAULT_MAX_RESPONSE_BYTES));
    this.http = axios.create({
      baseURL: options.apiUrl.replace(/\/+$/, ""),
      validateStatus: () => true,
      // Clarus answers JSON; a proxy's HTML error page must not become a parse exception.
      transitional: { silentJSONParsing: true, forcedJSONParsing: true, clarifyTimeoutError: true },
      maxRedirects: 0,
      maxContentLength: maxBytes,
      maxBodyLength: maxBytes,
    });
  }

  /** Runs a GraphQL operation and returns its `data`. */
  async graphql<T = JsonObject>(
    query: string,
    variables: JsonObject = {},
    options: GraphqlRequestOptions = {},
  ): Promise<T> {
    const { operationName } = options;
    const repeat: Repeat = operationType(query, operationName) === "query" ? "safe" : "unsafe";
    const response = await this.authorized(
      (token) => ({
        method: "POST",
        url: "/graphql",
        data: operationName ? { query, variables, operationName } : { query, variables },
        headers: this.headers(token),
      }),
      repeat,
      options,
    );
    return this.graphqlData<T>(response);
  }

  /**
   * Calls the Clarus REST API (`/api/...`, JSON:API bodies) and returns the answer's JSON, or undefined
   * for 204. Errors become a `ClarusApiError` whose `reason` and message say what to fix, and whose
   * `apiErrors` hold the answer's `errors` (a 422 names the field).
   */
  async rest<T = JsonObject>(
    method: RestMethod,
    path: string,
    options: RestRequestOptions = {},
  ): Promise<T | undefined> {
    // Only the API's own paths: an absolute URL would carry the bearer token to another host.
    if (!REST_PATH.test(path) || path.includes("..")) {
      throw new ClarusApiError(`not a Clarus REST API path: ${redact(path, [])}`, { reason: "config" });
    }
    const repeat: Repeat = SAFE_METHODS.has(method) ? "safe" : "unsafe";
    const response = await this.authorized(
      (token) => ({
        method,
        url: path,
        data: options.body,
        params: options.params,
        headers: this.headers(token),
      }),
      repeat,
      options,
    );
    const secrets = options.secrets ?? [];
    if (response.status < 200 || response.status >= 300) throw this.httpError(response, secrets);
    if (response.status === 204 || response.data === "" || response.data === undefined) return undefined;
    if (typeof response.data !== "object" || response.data === null) {
      throw new ClarusApiError(
        `Clarus API answered HTTP ${response.status} with something that is not JSON`,
        { reason: "response", status: response.status },
      );
    }
    return response.data as T;
  }

  /**
   * Asks the token endpoint for a new token now, in one attempt without retries, and keeps it for the calls
   * that follow: a health check wants the endpoint's answer now, not after a backoff. Rejects with what went
   * wrong; the token already held stays. A pasted access token has nothing to ask for.
   */
  async refreshToken(): Promise<void> {
    if (this.options.accessToken) return;
    await this.fetchToken(1);
  }

  /** Stops token requests that nobody waits for any more; the connection is closing. */
  close(): void {
    this.lifetime.abort(new Error("the connection is closing"));
  }

  private headers(token: string): Record<string, string> {
    return {
      Authorization: `Bearer ${token}`,
      "X-Clarus-Subdomain": this.options.subdomain,
      "Content-Type": "application/json",
      Accept: "application/json",
    };
  }

  /** A call with the bearer token; on 401 a new token once, unless the refused token was pasted. */
  private async authorized(
    request: (token: string) => AxiosRequestConfig,
    repeat: Repeat,
    options: RequestOptions,
  ): Promise<AxiosResponse> {
    const token = await this.accessToken(options);
    const response = await this.send(request(token), repeat, options);
    if (response.status !== 401 || this.options.accessToken) return response;
    this.forgetToken(token);
    return this.send(request(await this.accessToken(options)), repeat, options);
  }

  /**
   * One call with its retries: 429 after `Retry-After`; 5xx, timeouts and broken connections when the
   * call is safe to repeat; a connection that failed before sending, always.
   */
  private async send(
    config: AxiosRequestConfig,
    repeat: Repeat,
    options: RequestOptions,
    maxAttempts = this.retry.maxAttempts,
  ): Promise<AxiosResponse> {
    for (let attempt = 0; ; attempt++) {
      const deadline = new AttemptSignal(this.timeoutMs, options.signal);
      let response: AxiosResponse;
      const sentAt = Date.now();
      try {
        response = await this.http.request({ ...config, signal: deadline.signal });
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        const failure = deadline.timedOut ? this.timeoutFailure() : transportFailure(error);
        if (!mayRepeat(failure, repeat)) {
          if (repeat === "unsafe" && isTransient(failure.error.reason)) failure.error.message += NOT_REPEATED;
          throw failure.error;
        }
        await this.backoff(attempt, maxAttempts, failure.error, failure.short, undefined, options);
        continue;
      } finally {
        deadline.dispose();
      }
      reportServerClock(response, sentAt, options);
      const status = response.status;
      if (status === 429 || (status >= 500 && repeat === "safe")) {
        const failure = new ClarusApiError(`Clarus API answered HTTP ${status}`, { status });
        const retryAfter = status === 429 ? retryAfterMs(response.headers["retry-after"]) : undefined;
        await this.backoff(attempt, maxAttempts, failure, `HTTP ${status}`, retryAfter, options);
        continue;
      }
      if (status >= 500) {
        const failure = this.httpError(response, []);
        failure.message += NOT_REPEATED;
        throw failure;
      }
      return response;
    }
  }

  private timeoutFailure(): TransportFailure {
    const error = new ClarusApiError(
      `Clarus API timed out (no complete answer within ${this.timeoutMs} ms)`,
      { reason: "timeout" },
    );
    return { error, notSent: false, short: "timed out" };
  }

  private async backoff(
    attempt: number,
    maxAttempts: number,
    failure: ClarusApiError,
    reason: string,
    retryAfter: number | undefined,
    options: RequestOptions,
  ): Promise<void> {
    if (attempt + 1 >= maxAttempts) {
      if (maxAttempts > 1) failure.message += ` (gave up after ${maxAttempts} attempts)`;
      throw failure;
    }
    const delayMs =
      retryAfter !== undefined
        ? Math.min(retryAfter, this.retry.maxRetryAfterMs)
        : fullJitterDelay(attempt, this.retry, this.random);
    options.onRetry?.({ attempt: attempt + 1, delayMs, reason });
    await sleep(delayMs, options.signal);
  }

  /** A non-2xx answer as an error that says what to fix, in the API's own words, without secrets. */
  private httpError(response: AxiosResponse, secrets: readonly string[]): ClarusApiError {
    const status = response.status;
    const { text, entries } = restApiErrors(response.data);
    const subdomainRefused = entries.some(
      (entry) => entry.symbol === "subdomain_invalid" || entry.symbol === "subdomain_missing",
    );
    const reason: ClarusApiReason = status === 403 && subdomainRefused ? "subdomain" : reasonOfStatus(status);
    const said = text ? `: ${redact(text, [...secrets, ...this.secrets()])}` : "";
    const lead = this.explain(reason);
    const message = lead ? `${lead} (HTTP ${status}${said})` : `Clarus API answered HTTP ${status}${said}`;
    return new ClarusApiError(message, {
      reason,
      status,
      apiErrors: entries.length > 0 ? entries : undefined,
    });
  }

  private explain(reason: ClarusApiReason): string | undefined {
    switch (reason) {
      case "credentials":
        return this.options.accessToken
          ? "the Clarus API refused the access token"
          : "the Clarus API refused the credentials";
      case "subdomain":
        return `Clarus does not know the subdomain ${JSON.stringify(this.options.subdomain)}`;
      case "forbidden":
        return "the Clarus API user is not allowed to do this";
      case "not-found":
        return "the Clarus API has no such resource";
      case "invalid":
        return "Clarus refused the request";
      default:
        return undefined;
    }
  }

  private secrets(): string[] {
    const { accessToken, clientSecret } = this.options;
    return [accessToken, clientSecret, this.token?.value].filter((s): s is string => Boolean(s));
  }

  private graphqlData<T>(response: AxiosResponse): T {
    const body: unknown = response.data;
    if (response.status < 200 || response.status >= 300) throw this.httpError(response, []);
    if (!isPlainObject(body)) {
      throw new ClarusApiError("Clarus API answered something that is not a GraphQL response", {
        reason: "response",
        status: response.status,
      });
    }
    const errors = Array.isArray(body.errors) ? body.errors : [];
    if (errors.length > 0) {
      const messages = errors.map((e) =>
        isPlainObject(e) && typeof e.message === "string" ? redact(e.message, this.secrets()) : "error",
      );
      throw new ClarusApiError(`GraphQL errors: ${messages.join("; ")}`, {
        reason: "graphql",
        status: response.status,
        graphqlErrors: errors,
        data: body.data,
      });
    }
    if (!isPlainObject(body.data)) {
      throw new ClarusApiError("GraphQL response has no data", {
        reason: "graphql",
        status: response.status,
      });
    }
    return body.data as T;
  }

  /**
   * The bearer token. One token request at a time, shared by every caller and owned by none: a caller
   * whose signal aborts stops waiting for it, and the request goes on for the others.
   */
  private async accessToken(options: RequestOptions): Promise<string> {
    if (this.options.accessToken) return this.options.accessToken;
    if (this.token && this.token.expiresAt > Date.now()) return this.token.value;
    this.tokenRequest ??= this.fetchToken().finally(() => (this.tokenRequest = undefined));
    const onRetry = options.onRetry;
    if (onRetry) this.tokenWaiters.add(onRetry);
    try {
      return (await raceSignal(this.tokenRequest, options.signal)).value;
    } finally {
      if (onRetry) this.tokenWaiters.delete(onRetry);
    }
  }

  /** Forgets the cached token only if it is the one that was refused, not one fetched meanwhile. */
  private forgetToken(refused: string): void {
    if (this.token?.value === refused) this.token = undefined;
  }

  private async fetchToken(maxAttempts = this.retry.maxAttempts): Promise<CachedToken> {
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: this.options.clientId ?? "",
      client_secret: this.options.clientSecret ?? "",
    });
    const waiters = {
      signal: this.lifetime.signal,
      onRetry: (info: RetryInfo) => this.tokenWaiters.forEach((notify) => notify(info)),
    };
    // Asking for a token twice is harmless, so it is always safe to repeat.
    const response = await this.send(
      {
        method: "POST",
        url: "/oauth/token",
        data: form.toString(),
        headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
      },
      "safe",
      waiters,
      maxAttempts,
    );
    const body: unknown = response.data;
    if (response.status === 400 || response.status === 401) {
      const { text } = restApiErrors(body);
      throw new ClarusApiError(
        `Clarus refused the client credentials (HTTP ${response.status}${text ? `: ${redact(text, this.secrets())}` : ""})`,
        { reason: "credentials", status: response.status },
      );
    }
    if (response.status !== 200 || !isPlainObject(body) || typeof body.access_token !== "string") {
      throw new ClarusApiError(`Clarus token endpoint answered HTTP ${response.status} without a token`, {
        reason: response.status === 200 ? "response" : reasonOfStatus(response.status),
        status: response.status,
      });
    }
    const lifetimeS = Number(body.expires_in) > 0 ? Number(body.expires_in) : DEFAULT_TOKEN_LIFETIME_S;
    const marginMs = Math.min(TOKEN_EXPIRY_MARGIN_MS, (lifetimeS * 1000) / 2);
    this.token = { value: body.access_token, expiresAt: Date.now() + lifetimeS * 1000 - marginMs };
    return this.token;
  }
}

const NOT_REPEATED = "; not sent again, as it may have been applied";

function isTransient(reason: ClarusApiReason): boolean {
  return reason === "timeout" || reason === "network" || reason === "unreachable";
}

function mayRepeat(failure: TransportFailure, repeat: Repeat): boolean {
  return isTransient(failure.error.reason) && (repeat === "safe" || failure.notSent);
}

function positive(value: number | undefined, fallback: number): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : fallback;
}

function reportServerClock(response: AxiosResponse, sentAt: number, options: RequestOptions): void {
  const header: unknown = response.headers?.date;
  const serverMs = typeof header === "string" ? Date.parse(header) : NaN;
  if (options.onServerClock && Number.isFinite(serverMs)) {
    options.onServerClock(serverMs - (Date.now() - sentAt));
  }
}
