import axios from "axios";

import type { RegistrationApi, RestApi, RestMethod } from "./automation-registration";
import { ClarusApiError, type ClarusClient } from "./client";
import type { JsonObject } from "../json";

/**
 * INTERIM, to be replaced at merge: `RestApi` on top of today's ClarusClient, which has no REST method
 * yet. It borrows the client's OAuth token (so the two share one token), sends the same `Authorization`
 * and `X-Clarus-Subdomain` headers, and makes exactly one attempt: no 401 refresh and no retries, so a
 * POST is never sent twice. Once the client has its own REST method, `registrationApi` below wires that
 * instead and this class goes.
 */
export class InterimRestApi implements RestApi {
  constructor(
    private readonly client: ClarusClient,
    private readonly options: { apiUrl: string; subdomain: string; timeoutMs?: number },
  ) {}

  async request(method: RestMethod, path: string, body?: JsonObject): Promise<unknown> {
    // ClarusClient keeps its token private; this one call is the interim's only reach inside it.
    const source = this.client as unknown as Partial<TokenSource>;
    if (typeof source.accessToken !== "function") {
      throw new ClarusApiError(
        "the API client has no token for REST calls: wire registrationApi to its REST method",
        "config",
      );
    }
    const token = await source.accessToken.call(this.client, {});
    let response;
    try {
      response = await axios.request({
        baseURL: this.options.apiUrl.replace(/\/+$/, ""),
        url: path,
        method,
        data: body,
        timeout: this.options.timeoutMs ?? 30_000,
        maxRedirects: 0,
        validateStatus: () => true,
        transitional: { silentJSONParsing: true, forcedJSONParsing: true, clarifyTimeoutError: true },
        headers: {
          Authorization: `Bearer ${token}`,
          "X-Clarus-Subdomain": this.options.subdomain,
          "Content-Type": "application/json",
          Accept: "application/json",
        },
      });
    } catch (error) {
      const code = axios.isAxiosError(error) ? (error.code ?? "unknown") : "unknown";
      throw new ClarusApiError(`Clarus API ${method} ${path}: network error (${code})`, "network");
    }
    const { status, data } = response;
    if (status === 204) return undefined;
    if (status >= 200 && status < 300) return data;
    const kind = status === 401 ? "auth" : "http";
    throw new ClarusApiError(
      `Clarus API answered HTTP ${status} to ${method} ${path}`,
      kind,
      status,
      undefined,
      data,
    );
  }
}

interface TokenSource {
  accessToken(options: object): Promise<string>;
}

/**
 * What registration needs from a connection's API client: its GraphQL and a REST API. The one place to
 * change at merge: return the client's own REST method here instead of the interim adapter.
 */
export function registrationApi(
  client: ClarusClient,
  options: { apiUrl: string; subdomain: string; timeoutMs?: number },
): RegistrationApi {
  return { client, rest: new InterimRestApi(client, options) };
}
