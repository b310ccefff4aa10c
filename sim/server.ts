import http from "node:http";

import { type ExecutionResult, graphql, Kind, parse } from "graphql";

import { readClientCredentials, type TokenAuthority } from "./auth";
import type { AutomationsApi } from "./automations-api";
import type { Endpoint, FaultDecision, FaultInjector, FaultKind } from "./faults";
import { restError } from "./rest-error";
import type { ClarusGraphql, RequestContext } from "./schema";

/**
 * The HTTP face of the simulator: `POST /oauth/token`, `POST /graphql` and the REST automations API
 * (`/api/automations`, sim/automations-api.ts), plain node:http on loopback.
 * Every bad request gets an answer with a reason (400/401/403/404/405/413); nothing a client sends can
 * crash the process.
 *
 * Tenant check: a valid bearer token is checked first (401 `{"error": ...}`, Clarus REST's 401 shape),
 * then `X-Clarus-Subdomain`; missing or wrong answers 403 in Clarus REST's documented `errors` shape.
 */
export interface ServerDeps {
  auth: TokenAuthority;
  faults: FaultInjector;
  graphql: ClarusGraphql;
  automations: AutomationsApi;
  subdomain: string;
  /** The tenant's clock: answers carry it in their `Date` header, as a real API's clock would. */
  now: () => number;
  onFault: (kind: FaultKind, endpoint: Endpoint) => void;
  onHang: () => void;
  onRequest: (entry: RequestLogEntry) => void;
  /** The webhook fault the demo toggles: every webhook dropped while the poll still finds the events. */
  webhooks: { silent(): boolean; setSilent(silent: boolean): void };
}

export interface RequestLogEntry {
  at: string;
  method: string;
  path: string;
  status: number;
  /** The injected fault that shaped this answer, if any. */
  fault?: FaultKind;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  /** Lower-cased `Authorization` scheme used, never the credential itself. */
  auth?: string;
  /** A GraphQL request that reads the schema (`__schema`). */
  introspection?: boolean;
  /** The root fields a GraphQL request asks for (`["automations"]`), so a test can tell the reads apart. */
  roots?: string[];
}

const MAX_BODY_BYTES = 1024 * 1024;

export function createApiServer(deps: ServerDeps): http.Server {
  const server = http.createServer((req, res) => {
    handle(deps, req, res).catch((err: unknown) => {
      // A bug in the simulator, not a client error: still answer, so the client under test sees a 500.
      if (!res.headersSent) sendJson(res, 500, { error: `simulator error: ${String(err)}` });
      else res.destroy();
    });
  });
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    else socket.destroy();
  });
  return server;
}

async function handle(deps: ServerDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  const path = url.pathname.replace(/\/+$/, "") || "/";
  const method = req.method ?? "GET";
  const entry: RequestLogEntry = { at: new Date().toISOString(), method, path, status: 0 };
  res.setHeader("Date", new Date(deps.now()).toUTCString());
  const answer = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
    entry.status = status;
    sendJson(res, status, body, headers);
    deps.onRequest(entry);
  };

  if (path === "/oauth/token" || path === "/graphql") {
    if (method !== "POST") {
      return answer(405, { error: `Use POST for ${path}` }, { Allow: "POST" });
    }
    const endpoint: Endpoint = path === "/graphql" ? "graphql" : "token";
    const decision = deps.faults.decide(endpoint);
    if (!(await applyDelayFaults(deps, decision, endpoint))) {
      res.destroy();
      return;
    }
    if (decision.outcome === "error5xx") {
      entry.fault = "error5xx";
      deps.onFault("error5xx", endpoint);
      entry.status = decision.status5xx;
      sendHtml(res, decision.status5xx);
      deps.onRequest(entry);
      return;
    }
    if (decision.outcome === "rateLimit") {
      entry.fault = "rateLimit";
      deps.onFault("rateLimit", endpoint);
      const retryAfter = String(Math.ceil(deps.faults.retryAfterSeconds));
      return answer(429, { error: "Too many requests" }, { "Retry-After": retryAfter });
    }
    if (decision.outcome === "requestTimeout") {
      entry.fault = "requestTimeout";
      deps.onFault("requestTimeout", endpoint);
      res.setHeader("Connection", "close");
      return answer(408, { error: "Request Timeout" });
    }
    const body = await readBody(req);
    if (body === "too-large") {
      res.setHeader("Connection", "close");
      return answer(413, { error: `Request body over ${MAX_BODY_BYTES} bytes` });
    }
    if (endpoint === "token") {
      return tokenRequest(deps, req, body, answer);
    }
    return graphqlRequest(deps, req, body, decision, entry, answer);
  }
  if (deps.automations.owns(path)) {
    return restRequest(deps, req, res, { method, path, query: url.searchParams }, entry, answer);
  }
  if (path === "/sim/webhooks") return webhookFault(deps, req, method, answer);
  if (method === "GET" && path === "/") {
    return answer(200, {
      name: "clarus-simulator",
      subdomain: deps.subdomain,
      endpoints: ["/oauth/token", "/graphql", "/api/automations", "/sim/webhooks"],
    });
  }
  return answer(404, { error: `No route for ${method} ${path}` });
}

/**
 * `GET /sim/webhooks`: `{silent}`; `POST /sim/webhooks` with `{"silent": true}` drops every webhook (the
 * events still happen, so the poll finds them), `{"silent": false}` sends them again. The simulator's own
 * control, not a Clarus API: no token.
 */
async function webhookFault(
  deps: ServerDeps,
  req: http.IncomingMessage,
  method: string,
  answer: (status: number, body: unknown, headers?: Record<string, string>) => void,
): Promise<void> {
  if (method === "GET") return answer(200, { silent: deps.webhooks.silent() });
  if (method !== "POST") return answer(405, { error: "Use GET or POST" }, { Allow: "GET, POST" });
  const body = await readBody(req);
  let silent: unknown;
  try {
    silent =
      body === "too-large" ? undefined : (JSON.parse(body.toString("utf8")) as { silent?: unknown }).silent;
  } catch {
    silent = undefined;
  }
  if (typeof silent !== "boolean")
    return answer(400, { error: 'Send {"silent": true} or {"silent": false}' });
  deps.webhooks.setSilent(silent);
  return answer(200, { silent: deps.webhooks.silent() });
}

/** Slowness, then hanging. Resolves false when the simulator stopped meanwhile. */
async function applyDelayFaults(
  deps: ServerDeps,
  decision: FaultDecision,
  endpoint: Endpoint,
): Promise<boolean> {
  if (decision.slowMs > 0) {
    deps.onFault("slow", endpoint);
    if (!(await deps.faults.sleep(decision.slowMs))) return false;
  }
  if (decision.hang) {
    deps.onFault("hang", endpoint);
    const waiting = deps.faults.waitWhileHanging();
    deps.onHang();
    return waiting;
  }
  return true;
}

type Answer = (status: number, body: unknown, headers?: Record<string, string>) => void;

function tokenRequest(deps: ServerDeps, req: http.IncomingMessage, body: Buffer, answer: Answer): void {
  const type = (req.headers["content-type"] ?? "").toLowerCase();
  const text = body.toString("utf8");
  let fields: Record<string, unknown> = {};
  if (type.includes("json")) {
    const parsed = parseJson(text);
    if (!isRecord(parsed)) {
      return answer(400, { error: "invalid_request", error_description: "body is not a JSON object" });
    }
    fields = parsed;
  } else if (text.trim() !== "") {
    fields = Object.fromEntries(new URLSearchParams(text));
  }
  const result = deps.auth.handleTokenRequest(readClientCredentials(req.headers.authorization, fields));
  const headers: Record<string, string> = { "Cache-Control": "no-store", Pragma: "no-cache" };
  if (result.status === 401 && result.basic) headers["WWW-Authenticate"] = 'Basic realm="clarus"';
  answer(result.status, result.body, headers);
}

async function graphqlRequest(
  deps: ServerDeps,
  req: http.IncomingMessage,
  body: Buffer,
  decision: FaultDecision,
  entry: RequestLogEntry,
  answer: Answer,
): Promise<void> {
  if (refuseCaller(deps, req, entry, answer)) return;

  const parsed = parseJson(body.toString("utf8"));
  if (!isRecord(parsed))
    return answer(400, { error: "Body must be a JSON object {query, variables, operationName}" });
  const { query, variables, operationName } = parsed;
  if (typeof query !== "string" || query.trim() === "")
    return answer(400, { error: "query must be a non-empty string" });
  if (variables !== undefined && variables !== null && !isRecord(variables)) {
    return answer(400, { error: "variables must be an object" });
  }
  if (operationName !== undefined && operationName !== null && typeof operationName !== "string") {
    return answer(400, { error: "operationName must be a string" });
  }
  entry.operationName = operationName ?? null;
  entry.variables = variables ?? null;
  entry.introspection = /\b__schema\b/.test(query);
  entry.roots = rootFields(query, operationName ?? undefined);

  if (decision.outcome === "graphqlErrors") {
    entry.fault = "graphqlErrors";
    deps.onFault("graphqlErrors", "graphql");
    return answer(200, {
      errors: [
        {
          message: "Simulated internal error",
          extensions: { code: "INTERNAL_SERVER_ERROR", simulated: true },
        },
      ],
      data: null,
    });
  }
  const context: RequestContext = { partialData: decision.outcome === "partialData", partialApplied: false };
  const result: ExecutionResult = await graphql({
    schema: deps.graphql.schema,
    source: query,
    rootValue: deps.graphql.rootValue,
    contextValue: context,
    variableValues: variables ?? undefined,
    operationName: operationName ?? undefined,
  });
  if (context.partialApplied) {
    entry.fault = "partialData";
    deps.onFault("partialData", "graphql");
  }
  // GraphQL errors (syntax, validation, resolver) are HTTP 200, as Clarus documents.
  answer(200, result);
}

/**
 * The bearer token first (401 `{"error": ...}`), then `X-Clarus-Subdomain` (403 in the `errors` shape), as
 * for every Clarus API request. True when the caller was refused (and answered).
 */
function refuseCaller(
  deps: ServerDeps,
  req: http.IncomingMessage,
  entry: RequestLogEntry,
  answer: Answer,
): boolean {
  const authorization = req.headers.authorization ?? "";
  entry.auth = authorization.split(/\s+/)[0]?.toLowerCase() || undefined;
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(authorization)?.[1];
  const refused = deps.auth.check(bearer);
  if (refused) {
    answer(401, { error: refused }, { "WWW-Authenticate": 'Bearer realm="clarus"' });
    return true;
  }
  const subdomain = headerValue(req.headers["x-clarus-subdomain"]);
  if (subdomain === undefined || subdomain.trim() === "") {
    answer(403, restError(403, "subdomain_missing", "X-Clarus-Subdomain header is required"));
    return true;
  }
  if (subdomain.trim().toLowerCase() !== deps.subdomain.toLowerCase()) {
    answer(403, restError(403, "subdomain_invalid", `Unknown subdomain "${subdomain.trim()}"`));
    return true;
  }
  return false;
}

/** A REST automations request: the tenant check, a JSON body for POST and PATCH, then the API's answer. */
async function restRequest(
  deps: ServerDeps,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  request: { method: string; path: string; query: URLSearchParams },
  entry: RequestLogEntry,
  answer: Answer,
): Promise<void> {
  if (refuseCaller(deps, req, entry, answer)) return;
  let body: unknown;
  if (request.method === "POST" || request.method === "PATCH") {
    const bytes = await readBody(req);
    if (bytes === "too-large") {
      res.setHeader("Connection", "close");
      return answer(413, restError(413, "payload_too_large", `Request body over ${MAX_BODY_BYTES} bytes`));
    }
    body = parseJson(bytes.toString("utf8"));
    if (body === undefined) return answer(400, restError(400, "invalid_json", "The body is not JSON"));
  } else {
    req.resume();
  }
  const result = deps.automations.handle({ ...request, body });
  if (result.html) {
    entry.status = result.status;
    sendHtml(res, result.status);
    deps.onRequest(entry);
    return;
  }
  if (result.status === 204) {
    entry.status = 204;
    res.writeHead(204);
    res.end();
    deps.onRequest(entry);
    return;
  }
  answer(result.status, result.body, result.headers);
}

function readBody(req: http.IncomingMessage): Promise<Buffer | "too-large"> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    return Promise.resolve("too-large");
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        over = true;
        resolve("too-large");
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on("error", () => resolve(Buffer.alloc(0)));
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(payload)),
  });
  res.end(payload);
}

const STATUS_TEXT: Record<number, string> = {
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

/** What a gateway in front of an API sends: HTML, not GraphQL, so clients must not parse it as a result. */
function sendHtml(res: http.ServerResponse, status: number): void {
  const text = STATUS_TEXT[status] ?? "Error";
  const html = `<html><head><title>${status} ${text}</title></head><body><h1>${status} ${text}</h1></body></html>\n`;
  res.writeHead(status, {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Length": String(Buffer.byteLength(html)),
  });
  res.end(html);
}

/** The root fields of the operation a document runs; undefined when it does not parse (GraphQL answers why). */
function rootFields(query: string, operationName: string | undefined): string[] | undefined {
  try {
    const operations = parse(query).definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
    const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations[0];
    return operation?.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD ? [s.name.value] : []));
  } catch {
    return undefined;
  }
}
