import { setMaxListeners } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";

import type { Node, NodeAPI } from "node-red";

import type { AutomationDiscovery, DiscoveryState } from "../automations/discovery";
import { ExpectedIdentity, identityMismatch, readIdentity } from "../connection/identity-headers";
import type { ConnectionServices } from "../connection/services";
import { AcceptCancelledError, type Delivery } from "../delivery/delivery";
import { nodeSender } from "../delivery/sender";
import { classifyEvent } from "../events/classify";
import { dedupeKeyFor } from "../events/dedupe-keys";
import { type ClarusIdentity, type ClarusMessage, eventMessage } from "../events/message";
import { unwrapRecord } from "../events/records";
import type { JsonObject } from "../json";
import { type RejectionReason } from "../metrics/counters";
import { clarusMetrics } from "../metrics/prometheus";
import { errorMessage } from "../node-red/errors";
import { RateLimitedLog } from "../node-red/rate-limited-log";
import { STATUS, ThrottledStatus } from "../node-red/status";
import type { StoreHealth } from "../store/connection-store";
import { StoreUnavailableError, UnstorableEventError } from "../store/connection-store";
import { describeStoreFailure, storeHealthStatus, watchHealth } from "../store/health";
import { BodyAbortedError, BodyTimeoutError, BodyTooLargeError, readBody } from "./body-reader";
import type { EndpointRegistration, WebhookEndpoint } from "./endpoint";
import { answerJson as answer, BodyError, isJsonContentType, parseJsonObject, stripBom } from "./json-body";
import { hasUnreadBody } from "./route-registry";
import type { WebhookSettings } from "./settings";

const BODY_TIMEOUT_MS = 30_000;

/** A request that passed every check: its parsed body, the bytes it came as, and its identity headers. */
interface CheckedDelivery {
  /** `performance.now()` when the request reached the node. */
  startedAt: number;
  payload: JsonObject;
  bytes: Buffer | string;
  /** A JSON body's text, BOM dropped: the inbox writes it instead of serialising the payload again. */
  payloadJson?: string;
  identity: ClarusIdentity;
}

class Rejection extends Error {
  constructor(
    /** Which of the fixed reasons it counts under. */
    readonly reason: RejectionReason,
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    /** What the node's log says instead of `message`, which the caller gets: details kept from the caller. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

/** Seconds Clarus is asked to wait before it retries a 503 (the store refused, or the node was closing). */
const RETRY_AFTER_SECONDS = "5";

interface Counts {
  accepted: number;
  duplicates: number;
  rejected: number;
}

/**
 * One clarus-webhook-in endpoint: checks a request in order of cost (method, source, token, identity,
 * content type, size, JSON), lets the event in through the connection's delivery (a claimed key, or an
 * inbox entry on disk with `on-confirm`), answers Clarus, then hands the event to the flow. A rejected
 * request never reaches the flow; an accepted one always does, now or, with `on-confirm`, by redelivery.
 */
export class WebhookReceiver {
  private active = true;
  private readonly counts: Counts = { accepted: 0, duplicates: 0, rejected: 0 };
  private readonly status: ThrottledStatus;
  private readonly warnings: RateLimitedLog;
  private readonly unregisterSender: () => void;
  private readonly registration: EndpointRegistration;
  private readonly expected: ExpectedIdentity;
  private readonly discovery?: AutomationDiscovery;
  private readonly delivery: Delivery;
  private discoveryFailure?: string;
  /** The identity header value Clarus last sent that the connection refused, until one is accepted. */
  private identityProblem?: string;
  /** The identity headers of the last delivery accepted: the same set again needs no second check. */
  private lastAccepted?: ClarusIdentity;
  /** Why the server cannot serve the route (a dedicated port in use), while it cannot. */
  private serverProblem?: string;
  /** Why the store cannot take events (its health summary, e.g. "Redis: wrong password"), while it cannot. */
  private storeFailure?: string;
  private readonly unwatchStore: () => void;
  /** Requests between their route and their answer: close stops their body reads and waits for them. */
  private readonly inFlight = new Set<Promise<void>>();
  /**
   * Aborted by close: stops every request still reading its body or waiting for the automation map. One for
   * all of them, since they all stop for the same reason; one per request cost more than the inbox's write.
   */
  private readonly closing = new AbortController();

  constructor(
    private readonly RED: NodeAPI,
    private readonly node: Node,
    private readonly connection: ConnectionServices,
    private readonly settings: WebhookSettings,
    endpoint: WebhookEndpoint,
  ) {
    this.status = new ThrottledStatus(node);
    // Each request reading its body listens on it: hundreds at once are a burst, not a leak.
    setMaxListeners(0, this.closing.signal);
    this.delivery = connection.delivery;
    this.expected = connection.expectedIdentity(settings.automationIds);
    this.warnings = new RateLimitedLog((message) => node.warn(message));
    connection.webhookIdentities.register(node.id, node.name);
    this.registration = endpoint.serve({
      nodeId: node.id,
      method: settings.method,
      path: settings.path,
      isToken: this.isToken,
      isActive: () => this.active,
      dispatch: (req, res, segment) => this.dispatch(req, res, segment),
      serverProblem: this.onServerProblem,
    });
    // Its unconfirmed events (on-confirm) are sent again from this node, on output 1.
    this.unregisterSender = this.delivery.registerSender(
      node.id,
      nodeSender(node, (msg) => (settings.duplicatesOutput ? [msg, null] : msg)),
    );
    this.delivery.on("counts", this.onCounts);
    if (this.serverProblem === undefined)
      this.status.set(STATUS.ok(`listening ${settings.method} ${this.registration.label}`.slice(0, 40)));
    this.unwatchStore = watchHealth(connection.store, this.onStoreHealth);
    this.discovery = settings.fixedEvent ? undefined : connection.startDiscovery();
    this.discovery?.on("state", this.onDiscovery);
  }

  /** A failed discovery is warned about once and shown until one succeeds; the manual map still applies. */
  private readonly onDiscovery = (state: DiscoveryState) => {
    if (!state.ok && this.discoveryFailure === undefined) {
      this.node.warn(
        `could not read the automation map from the Clarus API: ${state.error}; the manual map still applies`,
      );
    }
    this.discoveryFailure = state.ok ? undefined : state.error;
    this.showCounts();
  };

  private readonly onCounts = () => this.showCounts();

  /** A dedicated port that cannot listen is an error once and a red status; nothing else stops. */
  private readonly onServerProblem = (problem: string | undefined) => {
    if (problem === this.serverProblem) return;
    if (problem !== undefined) this.node.error(`cannot listen: ${problem}`);
    else if (this.serverProblem !== undefined) this.node.log("listening again");
    this.serverProblem = problem;
    if (problem !== undefined) this.status.set(STATUS.failed(problem));
    else this.showCounts();
  };

  /** A store that cannot answer shows at once, before a request fails on it; its recovery clears it. */
  private readonly onStoreHealth = (health: StoreHealth) => {
    if (health.state === "connecting" || health.state === "closed") return;
    const failure = storeHealthStatus(this.connection.store.kind, health)?.text;
    if (failure === this.storeFailure) return;
    this.storeFailure = failure;
    this.showCounts();
  };

  private readonly isToken = (segment: string): boolean =>
    this.connection.webhookToken?.matches(segment) === true;

  /**
   * Stops taking requests. Those still reading their body are answered 503 (Clarus retries them into the
   * next flow); those past it finish first, so nothing is acknowledged into a flow that is gone.
   */
  async close(): Promise<void> {
    this.active = false;
    this.discovery?.off("state", this.onDiscovery);
    this.delivery.off("counts", this.onCounts);
    this.unwatchStore();
    this.registration.remove();
    this.connection.webhookIdentities.forget(this.node.id);
    this.closing.abort(new Error("the node is being redeployed or stopped"));
    await Promise.allSettled([...this.inFlight]);
    // After the requests in flight, so none captures into a list already cleared.
    this.connection.recent.forget(this.node.id);
    this.unregisterSender();
    this.status.stop();
  }

  /** A request for the node's path (segment undefined) or `<path>/<segment>`, from the endpoint. */
  private dispatch(req: IncomingMessage, res: ServerResponse, segment: string | undefined): void {
    if (req.method !== this.settings.method) {
      const methods = this.registration.methodsFor(this.settings.path);
      this.reject(
        req,
        res,
        new Rejection("method", 405, `method ${req.method} not allowed`, { Allow: methods.join(", ") }),
      );
      return;
    }
    const handled = this.handle(req, res, segment, this.closing.signal)
      .catch((error: unknown) => {
        this.node.error(`webhook request failed: ${errorMessage(error)}`);
        if (!res.headersSent) answer(res, 500, INTERNAL_ERROR);
      })
      .finally(() => this.inFlight.delete(handled));
    this.inFlight.add(handled);
  }

  private async handle(
    req: IncomingMessage,
    res: ServerResponse,
    segment: string | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    let payload: JsonObject;
    let bytes: Buffer | string;
    let payloadJson: string | undefined;
    const startedAt = performance.now();
    const identity = readIdentity(req.headers);
    try {
      this.checkSource(req);
      this.checkToken(req, segment);
      this.checkIdentity(identity);
      ({ payload, bytes, payloadJson } =
        this.settings.method === "GET" ? queryPayload(req) : await this.readJson(req, signal));
      if (!this.active) throw retryLater("the node closed while the body was read");
    } catch (error) {
      if (error instanceof Rejection) return this.reject(req, res, error);
      if (!(error instanceof Error) || !error.message.startsWith("client closed")) throw error;
      return;
    }
    await this.accept(req, res, { startedAt, payload, bytes, payloadJson, identity }, signal);
  }

  private checkSource(req: IncomingMessage): void {
    if (this.settings.allowIps.isEmpty) return;
    const client = this.settings.proxyTrust.clientAddress(req);
    if (!this.settings.allowIps.contains(client)) {
      throw new Rejection("ip", 403, `source address ${client ?? "unknown"} is not allowed`);
    }
  }

  private checkToken(req: IncomingMessage, segment: string | undefined): void {
    if (!this.settings.requireToken) {
      if (segment !== undefined) throw new Rejection("not-found", 404, "not found");
      return;
    }
    const candidate = segment ?? queryToken(req) ?? bearerToken(req);
    if (!this.connection.webhookToken?.matches(candidate)) {
      throw new Rejection("token", 401, candidate === undefined ? "token missing" : "token wrong");
    }
  }

  /**
   * The identity headers. What Clarus sent is kept for Test connection, and a value the connection refuses
   * is shown in the status and warned about with what was expected: a Clarus that names another host than
   * the one configured must not look like silence.
   */
  private checkIdentity(identity: ClarusIdentity): void {
    // Clarus sends the same headers on every delivery of an automation.
    const mismatch = sameIdentity(identity, this.lastAccepted)
      ? undefined
      : identityMismatch(identity, this.expected);
    const problem =
      mismatch && (mismatch.detail ? `${mismatch.message}; ${mismatch.detail}` : mismatch.message);
    this.connection.webhookIdentities.record(this.node.id, identity, problem);
    if (!mismatch) {
      this.lastAccepted = identity;
      this.identityProblem = undefined;
      return;
    }
    if (mismatch.header) {
      this.identityProblem = `${mismatch.header} ${mismatch.shown ?? ""} refused`;
      // One warning a minute per header, whatever values a flood carries.
      this.warnings.warn(`X-ClarusWMS-${mismatch.header} refused`, problem);
    }
    throw new Rejection("identity", 403, mismatch.message);
  }

  private async readJson(
    req: IncomingMessage,
    signal: AbortSignal,
  ): Promise<{ payload: JsonObject; bytes: Buffer; payloadJson: string }> {
    if (!isJsonContentType(req.headers["content-type"])) {
      throw new Rejection(
        "content-type",
        415,
        `content type ${JSON.stringify(req.headers["content-type"])} is not JSON`,
      );
    }
    if (!hasUnreadBody(req)) {
      throw new Error(
        "the request body was read before this node could check its size (a body parser in httpNodeMiddleware?)",
      );
    }
    let bytes: Buffer;
    try {
      bytes = await readBody(req, this.settings.maxBytes, BODY_TIMEOUT_MS, signal);
    } catch (error) {
      if (error instanceof BodyTooLargeError)
        throw new Rejection("size", 413, error.message, { Connection: "close" });
      if (error instanceof BodyTimeoutError)
        throw new Rejection("timeout", 408, error.message, { Connection: "close" });
      if (error instanceof BodyAbortedError) throw retryLater(error.message);
      throw error;
    }
    try {
      const text = stripBom(bytes.toString("utf8"));
      return { payload: parseJsonObject(text), bytes, payloadJson: text };
    } catch (error) {
      if (error instanceof BodyError) throw new Rejection("malformed", 400, error.message);
      throw error;
    }
  }

  private async accept(
    req: IncomingMessage,
    res: ServerResponse,
    delivery: CheckedDelivery,
    signal: AbortSignal,
  ): Promise<void> {
    const { payload, bytes, identity } = delivery;
    const record = unwrapRecord(payload);
    // An automation the map does not know yet waits (bounded) for the map: classified by the payload, its
    // dedupe key would follow another event than the poll's for the same record.
    const { fixedEvent } = this.settings;
    const mapped =
      fixedEvent || !identity.automationId
        ? undefined
        : await this.connection.automationEventAwaited(identity.automationId, signal);
    const { event } = classifyEvent({
      fixedEvent,
      automationId: identity.automationId,
      automationEvents: () => mapped,
      record,
    });
    const msgid = this.RED.util.generateId();
    const dedupeKey = dedupeKeyFor(event, record, bytes, {
      automationId: identity.automationId,
      deliveryId: msgid,
    });
    const msg = eventMessage({
      msgid,
      event,
      source: "webhook",
      payload,
      identity,
      dedupeKey,
      duplicate: false,
      connection: this.connection.id,
    });
    let outcome: "fresh" | "duplicate" | "held";
    try {
      outcome = await this.letIn(msg, delivery.payloadJson);
    } catch (error) {
      if (error instanceof AcceptCancelledError) return this.reject(req, res, retryLater(error.message));
      // Not the store's failure: this event can never be stored, so a retry would fail the same way.
      if (error instanceof UnstorableEventError)
        return this.reject(req, res, new Rejection("unstorable", 400, error.message));
      if (!(error instanceof StoreUnavailableError)) throw error;
      this.storeFailure = describeStoreFailure(this.connection.store);
      // The caller learns only that the store is away; where it is (a Redis host, port and database, a
      // file's path) stays in the log and the status.
      const detail = `the store cannot take the event: ${errorMessage(error)}`;
      return this.reject(req, res, retryLater(STORE_UNAVAILABLE, detail));
    }
    if (this.storeFailure !== undefined) {
      this.node.warn("the store takes events again");
      this.storeFailure = undefined;
    }
    const fresh = outcome !== "duplicate";
    answer(res, 200, fresh ? ACCEPTED : DUPLICATE);
    const { counters } = this.connection;
    clarusMetrics.acknowledged(this.connection.metricsLabel, (performance.now() - delivery.startedAt) / 1000);
    if (fresh) counters.entered(event, "webhook");
    else counters.duplicate(event, "webhook");
    if (fresh) this.counts.accepted++;
    else this.counts.duplicates++;
    this.showCounts();
    msg.clarus.duplicate = !fresh;
    this.connection.recent.capture(this.node.id, this.settings.captureCount, {
      headers: req.headers,
      // A GET's payload is built from the query: kept as its JSON (the flow may change the object).
      body: typeof bytes === "string" ? JSON.stringify(payload) : bytes,
      msg,
    });
    if (!fresh && !this.settings.duplicatesOutput) return;
    // Closed while the inbox wrote it: the entry is safe and is sent again from the inbox, at once.
    if (outcome === "held") return;
    if (!this.settings.duplicatesOutput) this.node.send(msg);
    else this.node.send(fresh ? [msg, null] : [null, msg]);
  }

  /**
   * Claims (on-receipt) or admits (on-confirm) the event: "fresh", "duplicate", or "held" (in the inbox, which
   * sends it: the node closed meanwhile). With dedupe off every delivery is fresh; on-confirm then keeps it
   * under a key of its own (`msg.clarus.inboxKey`).
   */
  private letIn(
    msg: ClarusMessage,
    payloadJson: string | undefined,
  ): Promise<"fresh" | "duplicate" | "held"> {
    const closing = () => !this.active;
    if (this.settings.dedupe) {
      const entry = { key: msg.clarus.dedupeKey, sourceNodeId: this.node.id, message: msg, payloadJson };
      return this.delivery.acceptOne(entry, closing);
    }
    if (!this.delivery.onConfirm) return Promise.resolve("fresh");
    const inboxKey = `${msg.clarus.dedupeKey}#${msg._msgid}`;
    msg.clarus.inboxKey = inboxKey;
    const entry = { key: inboxKey, sourceNodeId: this.node.id, message: msg, payloadJson };
    return this.delivery.acceptOne(entry, closing);
  }

  private reject(req: IncomingMessage, res: ServerResponse, rejection: Rejection): void {
    this.counts.rejected++;
    this.connection.counters.rejected(rejection.reason);
    this.showCounts();
    // One warning a minute for each cause, so "token wrong" still reaches the log after "token missing". The
    // token's two messages are fixed texts; other messages can carry what the request sent, so they group by reason.
    const cause = rejection.reason === "token" ? rejection.message : rejection.reason;
    this.warnings.warn(
      `rejected ${rejection.status}`,
      `${rejection.detail ?? rejection.message} (from ${req.socket.remoteAddress ?? "unknown"})`,
      `${rejection.status} ${cause}`,
    );
    answer(
      res,
      rejection.status,
      Buffer.from(JSON.stringify({ ok: false, error: rejection.message })),
      rejection.headers,
    );
  }

  private showCounts(): void {
    const { accepted, duplicates, rejected } = this.counts;
    const parts = [`${accepted} ok`];
    if (duplicates > 0) parts.push(`${duplicates} dup`);
    if (rejected > 0) parts.push(`${rejected} rejected`);
    const { dead } = this.delivery.counts;
    if (dead > 0) parts.push(`${dead} dead`);
    const text = parts.join(", ");
    if (this.serverProblem !== undefined) this.status.set(STATUS.failed(`${text}, ${this.serverProblem}`));
    else if (this.storeFailure !== undefined) this.status.set(STATUS.failed(`${text}, ${this.storeFailure}`));
    else if (this.identityProblem !== undefined)
      this.status.set(STATUS.warning(`${text}, ${this.identityProblem}`));
    else if (this.discoveryFailure !== undefined)
      this.status.set(STATUS.degraded(`${text}, no automation map`));
    else this.status.set(rejected > 0 || dead > 0 ? STATUS.warning(text) : STATUS.ok(text));
  }
}

/** A 503 Clarus retries: the node is closing (a redeploy) or the store cannot take the event now. */
function retryLater(reason: string, detail?: string): Rejection {
  return new Rejection("unavailable", 503, reason, { "Retry-After": RETRY_AFTER_SECONDS }, detail);
}

const STORE_UNAVAILABLE = "the store is unavailable; try again later";

const ACCEPTED = Buffer.from('{"ok":true}');
const DUPLICATE = Buffer.from('{"ok":true,"duplicate":true}');
const INTERNAL_ERROR = Buffer.from('{"ok":false,"error":"internal error"}');

/**
 * The first `token` of the raw query string. Express's parser decodes `+` as a space (form encoding), so a
 * token holding a `+` typed into a URL would never match; here `+` and `%2B` are both a plus, a space is
 * `%20`. A value that is not valid percent-encoding is compared as written (and fails).
 */
function queryToken(req: IncomingMessage): string | undefined {
  const url = originalUrl(req);
  const start = url.indexOf("?");
  if (start === -1) return undefined;
  for (const pair of url.slice(start + 1).split("&")) {
    const equals = pair.indexOf("=");
    const name = equals === -1 ? pair : pair.slice(0, equals);
    if (decodeComponent(name) === "token")
      return decodeComponent(equals === -1 ? "" : pair.slice(equals + 1));
  }
  return undefined;

  function decodeComponent(text: string): string {
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  }
}

function bearerToken(req: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
  return match ? match[1].trim() : undefined;
}

/** A GET webhook carries no body; its query string (without the token) is the payload. */
function queryPayload(req: IncomingMessage): { payload: JsonObject; bytes: string; payloadJson?: string } {
  const url = originalUrl(req);
  const query = url.includes("?") ? url.slice(url.indexOf("?") + 1) : "";
  const params = new URLSearchParams(query);
  params.delete("token");
  const payload: JsonObject = {};
  for (const [key, value] of params) {
    if (key === "__proto__" || key === "constructor" || key === "prototype") {
      throw new Rejection("malformed", 400, `query holds a forbidden key (${key})`);
    }
    payload[key] = value;
  }
  params.sort();
  return { payload, bytes: params.toString() };
}

/** The request's URL as it came: express rewrites `req.url` below a mount path and keeps the original. */
function originalUrl(req: IncomingMessage): string {
  return (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? "";
}

function sameIdentity(identity: ClarusIdentity, other: ClarusIdentity | undefined): boolean {
  return (
    other !== undefined &&
    identity.domain === other.domain &&
    identity.apiDomain === other.apiDomain &&
    identity.subdomain === other.subdomain &&
    identity.automationId === other.automationId &&
    identity.integrationId === other.integrationId
  );
}
