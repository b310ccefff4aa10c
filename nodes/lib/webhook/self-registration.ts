import type { Node } from "node-red";

import { installationOf } from "../automations/names";
import { describeLeftAlone } from "../automations/ownership";
import type {
  EnsureRequest,
  NodeAutomations,
  RegistrationItem,
  RegistrationReport,
} from "../automations/registration";
import type { ConnectionServices } from "../connection/services";
import { isKnownEvent } from "../events/vocabulary";
import { ConfigError, errorMessage, NotConfiguredError } from "../node-red/errors";
import type { CloseReason } from "../node-red/lifecycle";
import { redactToken } from "../node-red/redact";
import { STATUS } from "../node-red/status";
import { DriftWatch } from "./drift-watch";
import { checkPublicUrl, type HttpRoots, nodeRootUrl, webhookUrl } from "./public-url";

/** Where the node listens, as the receiver serves it: what the registered URL is built from. */
export interface ListeningAt {
  path: string;
  method: "POST" | "GET";
  requireToken: boolean;
  /** The node's allow-list of automation ids (empty: any), which registered automations must pass. */
  automationIds?: ReadonlySet<string>;
  /** The node's fixed event, which would name every delivery whatever its automation. */
  fixedEvent?: string;
  /** A dedicated port: it serves the path at its root, so the URL has no httpNodeRoot. */
  listenPort?: number;
}

/** How long a deleted or disabled node's close waits for its automations to change (Node-RED allows 15 s). */
const CLOSE_WAIT_MS = 8_000;

/**
 * The webhook-in `register` property: event ids, an array from the editor or a comma list from a
 * hand-written flow. Empty (and missing, as in a 0.1 flow) is off: no API call at all.
 */
export function registerEvents(value: unknown): string[] {
  const list = Array.isArray(value) ? value : typeof value === "string" ? value.split(",") : [];
  const events = [...new Set(list.map((entry) => String(entry).trim()).filter(Boolean))];
  for (const event of events) {
    if (!isKnownEvent(event)) {
      throw new ConfigError(`register: ${JSON.stringify(event)} is not a known Clarus event`);
    }
  }
  return events;
}

export interface RegistrationInput {
  nodeId: string;
  events: string[];
  listening: ListeningAt;
  publicUrl: string;
  roots: HttpRoots;
  token: string | undefined;
  hasApiCredentials: boolean;
}

/** Everything checked before any API call; a refusal says what to change. */
export function ensureRequest(input: RegistrationInput): EnsureRequest {
  if (!input.hasApiCredentials) {
    throw new NotConfiguredError(
      "the connection has no API credentials (client id and secret, or an access token) to register with",
    );
  }
  const base = checkPublicUrl(input.publicUrl, input.roots);
  if (input.listening.requireToken && !input.token) {
    throw new NotConfiguredError("a token is required but the connection has no webhook token");
  }
  const token = input.listening.requireToken ? input.token : undefined;
  return {
    ...installationPart(base, input),
    nodeId: input.nodeId,
    events: input.events,
    url: webhookUrl(base, servedRoot(input), input.listening.path, token),
    method: input.listening.method,
    secret: input.token,
  };
}

/**
 * Whose the node's automations are, for disabling or deleting them: this installation (when the public URL
 * can be read) and the node. Needs no credentials or token, so it is there even when registering is not.
 */
export function nodeAutomations(
  input: Omit<RegistrationInput, "events" | "hasApiCredentials">,
): NodeAutomations {
  let base: URL | undefined;
  try {
    base = checkPublicUrl(input.publicUrl, input.roots);
  } catch {
    base = undefined;
  }
  return { ...(base ? installationPart(base, input) : {}), nodeId: input.nodeId, secret: input.token };
}

function installationPart(
  base: URL,
  input: Pick<RegistrationInput, "roots" | "listening">,
): Required<Pick<NodeAutomations, "installation" | "listensAt">> {
  // The mark stays `<publicUrl><httpNodeRoot>` whichever server the node uses, so its automations stay its own
  // when it moves to a dedicated port or back.
  const root = nodeRootUrl(base, input.roots.httpNodeRoot);
  const served = nodeRootUrl(base, servedRoot(input));
  return { installation: installationOf(root), listensAt: `${served}${input.listening.path}` };
}

/** The path prefix of the server the node is on: httpNodeRoot on Node-RED's, none on a dedicated port. */
function servedRoot(input: Pick<RegistrationInput, "roots" | "listening">): string | false | undefined {
  return input.listening.listenPort === undefined ? input.roots.httpNodeRoot : undefined;
}

/** The URL as it may be shown: the token replaced by `<webhook token>`. */
export function shownUrl(request: EnsureRequest): string {
  return redactToken(request.url, request.secret);
}

/** Puts what registration made into the connection's automation map, and takes out what it removed. */
export function applyToConnection(services: ConnectionServices, report: RegistrationReport): void {
  for (const item of report.items) {
    for (const id of item.removedIds ?? []) services.setRegisteredAutomation(id, undefined);
    if (item.automationId === undefined) continue;
    const serving = item.outcome === "exists" || item.outcome === "created" || item.outcome === "updated";
    services.setRegisteredAutomation(item.automationId, serving ? item.event : undefined);
  }
}

/** One line per report: `goods_out.completed created (45), stock.placed_on_hold exists (46)`. */
export function describeReport(report: RegistrationReport): string {
  if (report.error) return report.error;
  return report.items.map(describeItem).join(", ") || "nothing to do";
}

function describeItem(item: RegistrationItem): string {
  if (item.outcome === "failed") return `${item.event} failed: ${item.error ?? "unknown error"}`;
  const notes = [item.automationId, item.adopted ? "adopted" : undefined].filter(Boolean);
  return `${item.event} ${item.outcome}${notes.length > 0 ? ` (${notes.join(", ")})` : ""}`;
}

export function failures(report: RegistrationReport): number {
  return report.error
    ? Math.max(1, report.items.length)
    : report.items.filter((i) => i.outcome === "failed").length;
}

/**
 * A webhook-in node's registration: at deploy, make Clarus's automations match the node (never stopping it
 * from receiving; failures go to the status, the log and Catch nodes), or disable them when `register` is
 * empty; when the node is disabled, disable them (the same ones are enabled again when it is); when it is
 * deleted, delete them, whatever `register` says. A redeploy or restart changes nothing. Once registered, the
 * automations are read back every `driftMinutes` of the connection and repaired (`DriftWatch`).
 */
export class WebhookSelfRegistration {
  private active = true;
  private readonly events: string[] = [];
  private request?: EnsureRequest;
  /** The node's automations in this installation, for disabling and deleting them. */
  private readonly owner: NodeAutomations;
  /** Why the node does not register (bad `register`, `publicUrl`, no credentials): reported by `start`. */
  private problem?: unknown;
  /** Reads the registered automations back, from the end of the registration until the node closes. */
  private watch?: DriftWatch;

  constructor(
    private readonly node: Node,
    private readonly services: ConnectionServices,
    def: { register?: unknown },
    private readonly listening: ListeningAt,
    roots: HttpRoots,
  ) {
    this.owner = nodeAutomations({
      nodeId: node.id,
      listening,
      publicUrl: services.publicUrl,
      roots,
      token: services.webhookSecret,
    });
    try {
      this.events = registerEvents(def.register);
      if (this.events.length === 0) return;
      this.request = ensureRequest({
        nodeId: node.id,
        events: this.events,
        listening,
        publicUrl: services.publicUrl,
        roots,
        token: services.webhookSecret,
        hasApiCredentials: services.hasApiCredentials,
      });
    } catch (error) {
      this.problem = error;
    }
  }

  /** Runs the registration in the background; the node listens meanwhile, whatever happens. */
  start(): void {
    if (this.problem !== undefined) return this.refused(this.problem);
    const request = this.request;
    if (this.events.length === 0) return this.disableUnlisted();
    if (!request) return;
    const fixed = this.listening.fixedEvent;
    if (fixed && request.events.some((event) => event !== fixed)) {
      this.node.warn(
        `every delivery is named ${fixed} (the node's fixed event); set Event to auto to tell them apart`,
      );
    }
    this.node.status(STATUS.working(`registering ${request.events.length} event(s)`));
    this.services.registrar.ensure(request).then(
      (report) => this.finished(report, request),
      (error: unknown) => this.finished({ items: [], error: errorMessage(error) }, request),
    );
  }

  /** Checked before any API call: a warning when something is not set yet, an error when it is wrong. */
  private refused(error: unknown): void {
    const message = `not registered with Clarus: ${redactToken(errorMessage(error), this.services.webhookSecret)}`;
    if (error instanceof NotConfiguredError) this.node.warn(message);
    else this.node.error(message, { topic: "registration", payload: { error: message } });
    this.node.status(STATUS.degraded(message.replace(" with Clarus", "").slice(0, 40)));
  }

  /**
   * `register` is empty: automations the node registered before would go on posting, so they are disabled
   * (kept, with their ids). Only where they can be told apart from another installation's: with a public URL.
   */
  private disableUnlisted(): void {
    if (!this.services.hasApiCredentials || !this.owner.installation) return;
    void this.services.registrar
      .disable(this.owner)
      .then((report) => this.changed(report, "disable", "with nothing under Register"))
      .catch((error: unknown) => this.changed({ items: [], error: errorMessage(error) }, "disable"));
  }

  /**
   * On close: a deleted node's automations are deleted (whatever `register` says; deleting needs only the API,
   * so it runs even when the URL could not be built), a disabled node's are disabled, and a redeploy or restart
   * leaves them as they are.
   */
  async close(reason: CloseReason): Promise<void> {
    this.active = false;
    this.watch?.stop();
    this.services.automationStates.forget(this.node.id);
    if (!this.services.hasApiCredentials) return;
    let change: Promise<void>;
    if (reason === "deleted") {
      change = this.services.registrar.remove(this.owner).then((report) => this.changed(report, "delete"));
    } else if (reason === "paused" && this.events.length > 0) {
      change = this.services.registrar
        .disable(this.owner)
        .then((report) =>
          this.changed(report, "disable", "while the node, its tab or its connection is disabled"),
        );
    } else {
      return;
    }
    const verb = reason === "deleted" ? "deleting" : "disabling";
    change = change.catch((error: unknown) =>
      this.changed({ items: [], error: errorMessage(error) }, reason === "deleted" ? "delete" : "disable"),
    );
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.node.warn(
          `still ${verb} its Clarus automations after ${CLOSE_WAIT_MS / 1000} s; it goes on in the background`,
        );
        resolve();
      }, CLOSE_WAIT_MS);
    });
    await Promise.race([change, waited]);
    clearTimeout(timer);
  }

  /** Logs what disabling or deleting the node's automations did; a failure is a warning (the node is not listening). */
  private changed(report: RegistrationReport, verb: "disable" | "delete", why = ""): void {
    applyToConnection(this.services, report);
    this.warnLeftAlone(report);
    const text = redactToken(describeReport(report), this.services.webhookSecret);
    const past = verb === "delete" ? "deleted" : "disabled";
    if (failures(report) > 0) this.node.warn(`could not ${verb} its Clarus automations: ${text}`);
    else if (report.items.length > 0)
      this.node.log(`${past} its Clarus automations${why ? ` ${why}` : ""}: ${text}`);
  }

  /** Automations named for the node that are someone else's: never touched, and the user is told once per run. */
  private warnLeftAlone(report: RegistrationReport): void {
    for (const line of describeLeftAlone(report.leftAlone ?? [])) {
      this.node.warn(redactToken(line, this.services.webhookSecret));
    }
  }

  private showRegistered(request: EnsureRequest): void {
    this.node.status(STATUS.ok(`registered ${request.events.length} event(s)`));
  }

  /**
   * Whatever the registration's outcome: what failed now (Clarus away at deploy) is made by the first check
   * that can, as a repair.
   */
  private watchForDrift(report: RegistrationReport, request: EnsureRequest): void {
    const periodMs = this.services.driftMs;
    if (periodMs <= 0 || this.watch) return;
    this.watch = new DriftWatch(this.node, this.services, request, periodMs, {
      registeredStatus: () => this.showRegistered(request),
      applied: (changes) => applyToConnection(this.services, changes),
    });
    this.watch.start(report);
  }

  private finished(report: RegistrationReport, request: EnsureRequest): void {
    applyToConnection(this.services, report);
    if (!this.active) return;
    this.services.automationStates.registered(this.node.id, request.events, report);
    this.warnLeftAlone(report);
    const text = redactToken(describeReport(report), request.secret);
    const failed = failures(report);
    const allowed = this.listening.automationIds ?? new Set<string>();
    const refused = report.items
      .filter((i) => i.outcome !== "failed" && i.outcome !== "disabled" && i.automationId !== undefined)
      .map((i) => i.automationId as string)
      .filter((id) => allowed.size > 0 && !allowed.has(id));
    if (refused.length > 0) {
      this.node.warn(
        `automation(s) ${refused.join(", ")} are not in this node's Automations list, so their deliveries are refused (403): add them or clear the list`,
      );
    }
    this.watchForDrift(report, request);
    if (failed === 0) {
      this.node.log(`registered with Clarus at ${shownUrl(request)}: ${text}`);
      this.showRegistered(request);
      return;
    }
    // With a message, not node.error alone: only then does a Catch node see it. The token never goes in.
    this.node.error(`registration with Clarus failed: ${text}`, {
      topic: "registration",
      payload: { url: shownUrl(request), ...report },
    });
    const of = report.error ? "" : ` (${failed} of ${report.items.length})`;
    this.node.status(STATUS.degraded(`registration failed${of}`));
  }
}
