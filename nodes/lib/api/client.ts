import axios, { AxiosInstance, AxiosResponse } from "axios";

import { DEFAULT_RETRY, fullJitterDelay, retryAfterMs, RetryPolicy, sleep } from "./backoff";
import { errorMessage } from "../node-red/errors";
import { isPlainObject } from "../json";
import type { JsonObject } from "../json";

export type ClarusApiErrorKind = "auth" | "http" | "graphql" | "network" | "timeout" | "config";

/** A failed API call. Messages name the status and GraphQL messages, never a token or a secret. */
export class ClarusApiError extends Error {
  override name = "ClarusApiError";

  constructor(
    message: string,
    readonly kind: ClarusApiErrorKind,
    readonly status?: number,
    readonly graphqlErrors?: unknown[],
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export interface ClarusClientOptions {
  apiUrl: string;
  subdomain: string;
  clientId?: string;
  clientSecret?: string;
  accessToken?: string;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  random?: () => number;
}

export interface RetryInfo {
  attempt: number;
  delayMs: number;
  reason: string;
}

export interface GraphqlRequestOptions {
  signal?: AbortSignal;
  /** Called before each retry, so the caller can show it (status, log). */
  onRetry?: (info: RetryInfo) => void;
  /**
   * Called with the API's clock at the moment a request was sent: the answer's `Date` header (whole
   * seconds, so never late) less the round trip. A poll keeps its watermark in the API's time with it.
   */
  onServerClock?: (serverMsAtSend: number) => void;
}

interface CachedToken {
  value: string;
  expiresAt: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
// Refresh a little early so a token never expires between the check and the request.
const TOKEN_EXPIRY_MARGIN_MS = 60_000;
const DEFAULT_TOKEN_LIFETIME_S = 3600;

/**
 * The Clarus API for one connection: OAuth2 client credentials (cached, refreshed once on 401) or a
 * static token, the `X-Clarus-Subdomain` header, timeouts, and bounded retries: full-jitter backoff on
 * 5xx, timeouts and network errors, `Retry-After` on 429. GraphQL `errors` fail the call even with
 * HTTP 200 and partial data.
 */
export class ClarusClient {
  private readonly http: AxiosInstance;
  private readonly retry: RetryPolicy;
  private readonly random: () => number;
  private token?: CachedToken;
  private tokenRequest?: Promise<CachedToken>;

  constructor(private readonly options: ClarusClientOptions) {
    if (!options.accessToken && !(options.clientId && options.clientSecret)) {
      throw new ClarusApiError(
        "the connection has no API credentials (client id and secret, or a token)",
        "config",
      );
    }
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.random = options.random ?? Math.random;
    this.http = axios.create({
      baseURL: options.apiUrl.replace(/\/+$/, ""),
      timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      validateStatus: () => true,
      // Clarus answers JSON; a proxy's HTML error page must not become a parse exception.
      transitional: { silentJSONParsing: true, forcedJSONParsing: true, clarifyTimeoutError: true },
      maxRedirects: 0,
    });
  }

  /** Runs a GraphQL operation and returns its `data`. */
  async graphql<T = JsonObject>(
    query: string,
    variables: JsonObject = {},
    options: GraphqlRequestOptions = {},
  ): Promise<T> {
    let refreshedAfter401 = false;
    for (let attempt = 0; ; attempt++) {
      const token = await this.accessToken(options);
      const sentAt = Date.now();
      const response = await this.send(
        () =>
          this.http.post(
            "/graphql",
            { query, variables },
            {
              signal: options.signal,
              headers: {
                Authorization: `Bearer ${token}`,
                "X-Clarus-Subdomain": this.options.subdomain,
                "Content-Type": "application/json",
                Accept: "application/json",
              },
            },
          ),
        attempt,
        options,
      );
      if (response === "retry") continue;
      reportServerClock(response, sentAt, options);
      if (response.status === 401) {
        if (!refreshedAfter401 && this.canRefresh()) {
          refreshedAfter401 = true;
          this.token = undefined;
          attempt--;
          continue;
        }
        throw new ClarusApiError("the Clarus API refused the credentials (401)", "auth", 401);
      }
      return this.graphqlData<T>(response);
    }
  }

  private canRefresh(): boolean {
    return !this.options.accessToken;
  }

  /** One HTTP attempt; "retry" after sleeping when the failure is worth another attempt. */
  private async send(
    request: () => Promise<AxiosResponse>,
    attempt: number,
    options: GraphqlRequestOptions,
  ): Promise<AxiosResponse | "retry"> {
    const { signal } = options;
    let response: AxiosResponse;
    try {
      response = await request();
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      const timedOut = axios.isAxiosError(error) && error.code === "ETIMEDOUT";
      const kind = timedOut ? "timeout" : "network";
      const reason = timedOut ? "timed out" : `network error (${networkCode(error)})`;
      await this.backoff(
        attempt,
        reason,
        new ClarusApiError(`Clarus API ${reason}`, kind),
        undefined,
        options,
      );
      return "retry";
    }
    if (response.status === 429 || response.status >= 500) {
      const reason = `HTTP ${response.status}`;
      const retryAfter = response.status === 429 ? retryAfterMs(response.headers["retry-after"]) : undefined;
      await this.backoff(
        attempt,
        reason,
        new ClarusApiError(`Clarus API answered ${reason}`, "http", response.status),
        retryAfter,
        options,
      );
      return "retry";
    }
    return response;
  }

  private async backoff(
    attempt: number,
    reason: string,
    failure: ClarusApiError,
    retryAfter: number | undefined,
    options: GraphqlRequestOptions,
  ): Promise<void> {
    if (attempt + 1 >= this.retry.maxAttempts) {
      failure.message += ` (gave up after ${this.retry.maxAttempts} attempts)`;
      throw failure;
    }
    const delayMs =
      retryAfter !== undefined
        ? Math.min(retryAfter, this.retry.maxRetryAfterMs)
        : fullJitterDelay(attempt, this.retry, this.random);
    options.onRetry?.({ attempt: attempt + 1, delayMs, reason });
    await sleep(delayMs, options.signal);
  }

  private graphqlData<T>(response: AxiosResponse): T {
    const body: unknown = response.data;
    if (response.status < 200 || response.status >= 300) {
      throw new ClarusApiError(
        `Clarus API answered HTTP ${response.status}${apiErrorText(body)}`,
        "http",
        response.status,
      );
    }
    if (!isPlainObject(body)) {
      throw new ClarusApiError(
        "Clarus API answered something that is not a GraphQL response",
        "http",
        response.status,
      );
    }
    const errors = Array.isArray(body.errors) ? body.errors : [];
    if (errors.length > 0) {
      const messages = errors.map((e) =>
        isPlainObject(e) && typeof e.message === "string" ? e.message : "error",
      );
      throw new ClarusApiError(
        `GraphQL errors: ${messages.join("; ")}`,
        "graphql",
        response.status,
        errors,
        body.data,
      );
    }
    if (!isPlainObject(body.data)) {
      throw new ClarusApiError("GraphQL response has no data", "graphql", response.status);
    }
    return body.data as T;
  }

  private async accessToken(options: GraphqlRequestOptions): Promise<string> {
    if (this.options.accessToken) return this.options.accessToken;
    if (this.token && this.token.expiresAt > Date.now()) return this.token.value;
    // One token request at a time, shared by every caller that needs it.
    this.tokenRequest ??= this.fetchToken(options).finally(() => (this.tokenRequest = undefined));
    this.token = await this.tokenRequest;
    return this.token.value;
  }

  private async fetchToken(options: GraphqlRequestOptions): Promise<CachedToken> {
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: this.options.clientId ?? "",
      client_secret: this.options.clientSecret ?? "",
    });
    for (let attempt = 0; ; attempt++) {
      const response = await this.send(
        () =>
          this.http.post("/oauth/token", form.toString(), {
            signal: options.signal,
            headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
          }),
        attempt,
        options,
      );
      if (response === "retry") continue;
      const body: unknown = response.data;
      if (response.status === 400 || response.status === 401) {
        throw new ClarusApiError(
          `Clarus refused the client credentials (HTTP ${response.status})`,
          "auth",
          response.status,
        );
      }
      if (response.status !== 200 || !isPlainObject(body) || typeof body.access_token !== "string") {
        throw new ClarusApiError(
          `Clarus token endpoint answered HTTP ${response.status} without a token`,
          "auth",
          response.status,
        );
      }
      const lifetimeS = Number(body.expires_in) > 0 ? Number(body.expires_in) : DEFAULT_TOKEN_LIFETIME_S;
      const marginMs = Math.min(TOKEN_EXPIRY_MARGIN_MS, (lifetimeS * 1000) / 2);
      return { value: body.access_token, expiresAt: Date.now() + lifetimeS * 1000 - marginMs };
    }
  }
}

function reportServerClock(response: AxiosResponse, sentAt: number, options: GraphqlRequestOptions): void {
  const header: unknown = response.headers?.date;
  const serverMs = typeof header === "string" ? Date.parse(header) : NaN;
  if (options.onServerClock && Number.isFinite(serverMs)) {
    options.onServerClock(serverMs - (Date.now() - sentAt));
  }
}

function networkCode(error: unknown): string {
  if (axios.isAxiosError(error)) return error.code ?? "unknown";
  return errorMessage(error);
}

/** Clarus REST errors are `{error}` or `{errors:[{details}]}` (clarus.md §4.3); keep them short. */
function apiErrorText(body: unknown): string {
  if (!isPlainObject(body)) return "";
  if (typeof body.error === "string") return `: ${body.error.slice(0, 200)}`;
  if (Array.isArray(body.errors) && isPlainObject(body.errors[0])) {
    const first = body.errors[0];
    const text = first.details ?? first.message ?? first.symbol;
    if (typeof text === "string") return `: ${text.slice(0, 200)}`;
  }
  return "";
}
