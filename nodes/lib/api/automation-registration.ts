import {
  automationName,
  createDocument,
  describeApiError,
  document,
  readDetails,
  repairAttributes,
  resourceId,
  type AutomationDetails,
  type WantedAutomation,
  type WebhookMethod,
} from "./automation-documents";
import { ClarusApiError, type ClarusClient } from "./client";
import { KNOWN_EVENTS } from "../events/vocabulary";
import { redactToken } from "../node-red/redact";
import { relayPages } from "./relay";
import { RegistrationMemory, registrationMemoryName, webhookFingerprint } from "./registration-memory";
import type { ConnectionStore } from "../store/connection-store";
import type { Documents } from "../store/file-documents";
import { whileHolding } from "../store/lease-holder";

export type RegistrationOutcome = "exists" | "created" | "updated" | "disabled" | "deleted" | "failed";

export interface RegistrationItem {
  event: string;
  name: string;
  outcome: RegistrationOutcome;
  /** The automation that now serves the event (or was disabled or deleted). */
  automationId?: string;
  /** Automations of this name that are gone now: duplicates deleted, or one replaced by a new one. */
  removedIds?: string[];
  error?: string;
}

export interface RegistrationReport {
  items: RegistrationItem[];
  /** Set when nothing could be done (the lookup failed); nothing was changed then. */
  error?: string;
}

export interface EnsureRequest {
  nodeId: string;
  /** The events to register, `resource.event`; the node's other registered events are disabled. */
  events: readonly string[];
  url: string;
  method: WebhookMethod;
  /** The webhook token: shown as `<webhook token>` in every message, even when Clarus echoes the URL. */
  secret?: string;
}

interface Found {
  id: string;
  name: string;
  event: string;
  enabled: boolean;
}

const FIND_OWN = `query ClarusRegisteredAutomations($filter: AutomationFilterType, $first: Int, $after: String) {
  automations { all(filter: $filter, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id name enabled } }
  } }
}`;

const MAX_PAGES = 20;
/** The lease that keeps two instances from registering for one tenant at once (store.acquireLease). */
const LEASE_NAME = "registration";
/** How long a registration waits for another instance's to end before it gives up (lease periods). */
const MAX_LEASE_WAITS = 20;

/** One registration at a time across instances: the connection's store and its lease period. */
export interface RegistrationLease {
  store: Pick<ConnectionStore, "acquireLease">;
  ttlMs: number;
}

/**
 * Webhook self-registration (DESIGN.md "Webhook registration"): one enabled Clarus automation per listed
 * event, named `node-red-clarus <node id> <event>`, whose webhook action posts to the node's URL. Existing
 * ones are found by name (so never created twice, across redeploys and restarts), changed in place when the
 * URL or method differs, and deleted only by `remove`. Runs one at a time per connection, so two nodes
 * deploying at once never interleave their calls, and, with a lease in the connection's store, one at a time
 * across instances: several Node-RED instances deploying the same flows at once create each automation once.
 *
 * Clarus documents no REST read of an automation (research/clarus.md §3.4). Where `GET
 * /api/automations/{id}` answers with the actions, changes are exact PATCHes (UPDATE the parameters by id).
 * Where it does not, the memory of what was last written decides, and a changed URL replaces the
 * automation (DELETE, then POST) since a PATCH cannot name the parameter to change.
 */
export class AutomationRegistrar {
  /** False once a read was refused (404/405) or came without the actions. */
  private readsWork = true;

  constructor(
    private readonly key: string,
    /** GraphQL finds the automations by name (the one documented way to list them); REST changes them. */
    private readonly client: ClarusClient,
    private readonly memory: RegistrationMemory,
    private readonly lease?: RegistrationLease,
  ) {}

  /**
   * Resolves when the registrations queued so far have ended, or after `maxWaitMs`: the connection closes its
   * store only then, so that the deletions of a removed node, queued as the flows stop, still reach it.
   */
  async idle(maxWaitMs: number): Promise<void> {
    const queued = queues.get(this.key);
    if (!queued) return;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, maxWaitMs)));
    await Promise.race([queued, waited]);
    clearTimeout(timer);
  }

  ensure(request: EnsureRequest): Promise<RegistrationReport> {
    return serialised(this.key, () => this.exclusive(() => this.ensureNow(request)));
  }

  /** Deletes every automation registered for the node (it was deleted from the flows). */
  remove(nodeId: string, secret?: string): Promise<RegistrationReport> {
    return serialised(this.key, () => this.exclusive(() => this.removeNow(nodeId, secret)));
  }

  /**
   * Runs `work` holding the registration lease, after waiting for another instance that holds it (its
   * automations are then found by name, not made again). Rejects when the store cannot answer.
   */
  private async exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (!this.lease) return work();
    const { store, ttlMs } = this.lease;
    for (let waits = 0; ; waits++) {
      const held = await whileHolding(store, LEASE_NAME, ttlMs, work);
      if (held) return held.value;
      if (waits >= MAX_LEASE_WAITS) {
        throw new Error(
          `another instance has been registering for ${Math.round((waits * ttlMs) / 2000)} s; try again later`,
        );
      }
      await delay(ttlMs / 2);
    }
  }

  private ensureNow(request: EnsureRequest): Promise<RegistrationReport> {
    const { secret } = request;
    return this.withOwn(request.nodeId, secret, async (found) => {
      const items: RegistrationItem[] = [];
      for (const event of request.events) {
        const name = automationName(request.nodeId, event);
        const wanted = { name, event, url: request.url, method: request.method };
        const same = found.filter((f) => f.event === event);
        items.push(await this.attempt(wanted, secret, () => this.ensureOne(wanted, same)));
      }
      for (const unlisted of found.filter((f) => !request.events.includes(f.event) && f.enabled)) {
        items.push(
          await this.attempt(unlisted, secret, async () => {
            await this.client.rest("PATCH", path(unlisted.id), { body: document({ enabled: false }) });
            return itemFor(unlisted, "disabled");
          }),
        );
      }
      return items;
    });
  }

  private removeNow(nodeId: string, secret?: string): Promise<RegistrationReport> {
    return this.withOwn(nodeId, secret, async (found) => {
      const items: RegistrationItem[] = [];
      for (const automation of found) {
        items.push(
          await this.attempt(automation, secret, async () => {
            await this.deleteIfThere(automation.id);
            return itemFor(automation, "deleted");
          }),
        );
      }
      return items;
    });
  }

  /** Works on the node's automations; when they cannot be looked up, nothing is changed and the report says why. */
  private async withOwn(
    nodeId: string,
    secret: string | undefined,
    work: (found: Found[]) => Promise<RegistrationItem[]>,
  ): Promise<RegistrationReport> {
    let found: Found[];
    try {
      found = await this.findOwn(nodeId);
    } catch (error) {
      return { items: [], error: redactToken(describeApiError(error), secret) };
    }
    return { items: await work(found) };
  }

  /** Runs one item's work; a failure becomes a `failed` item, so the other items still run. */
  private async attempt(
    what: { event: string; name: string },
    secret: string | undefined,
    work: () => Promise<RegistrationItem>,
  ): Promise<RegistrationItem> {
    try {
      return await work();
    } catch (error) {
      const message = redactToken(describeApiError(error), secret);
      return { event: what.event, name: what.name, outcome: "failed", error: message };
    }
  }

  private async ensureOne(wanted: WantedAutomation, same: Found[]): Promise<RegistrationItem> {
    const [kept, ...duplicates] = same;
    const removedIds: string[] = [];
    // Two of one name (an earlier instance raced, or a copy by hand) would each deliver every event.
    for (const duplicate of duplicates) {
      await this.deleteIfThere(duplicate.id);
      removedIds.push(duplicate.id);
    }
    const item = (outcome: RegistrationOutcome, automationId: string): RegistrationItem => ({
      event: wanted.event,
      name: wanted.name,
      outcome,
      automationId,
      ...(removedIds.length > 0 ? { removedIds } : {}),
    });
    if (!kept) return item("created", await this.create(wanted));

    const fingerprint = webhookFingerprint(wanted.url, wanted.method);
    const details = await this.read(kept.id);
    if (details) {
      const changes = repairAttributes(details, wanted);
      if (changes) await this.client.rest("PATCH", path(kept.id), { body: document(changes) });
      await this.memory.remember(kept.id, fingerprint);
      return item(changes || removedIds.length > 0 ? "updated" : "exists", kept.id);
    }
    if ((await this.memory.fingerprintOf(kept.id)) === fingerprint) {
      if (kept.enabled) return item(removedIds.length > 0 ? "updated" : "exists", kept.id);
      await this.client.rest("PATCH", path(kept.id), { body: document({ enabled: true }) });
      return item("updated", kept.id);
    }
    await this.deleteIfThere(kept.id);
    removedIds.push(kept.id);
    return item("updated", await this.create(wanted));
  }

  private async create(wanted: WantedAutomation): Promise<string> {
    const id = resourceId(
      await this.client.rest("POST", "/api/automations", { body: createDocument(wanted) }),
    );
    await this.memory.remember(id, webhookFingerprint(wanted.url, wanted.method));
    return id;
  }

  /** The automation's actions, or undefined where this tenant does not show them. */
  private async read(id: string): Promise<AutomationDetails | undefined> {
    if (!this.readsWork) return undefined;
    try {
      const details = readDetails(await this.client.rest("GET", path(id)));
      if (!details) this.readsWork = false;
      return details;
    } catch (error) {
      if (error instanceof ClarusApiError && (error.status === 404 || error.status === 405)) {
        this.readsWork = false;
        return undefined;
      }
      throw error;
    }
  }

  private async deleteIfThere(id: string): Promise<void> {
    try {
      await this.client.rest("DELETE", path(id));
    } catch (error) {
      if (!(error instanceof ClarusApiError && error.status === 404)) throw error;
    }
    await this.memory.forget([id]);
  }

  /**
   * This node's automations, by exact name: `in` with the name for every known event, so the lookup needs
   * no pattern semantics, and sees events the node no longer lists.
   */
  private async findOwn(nodeId: string): Promise<Found[]> {
    const events = new Map([...KNOWN_EVENTS].map((event) => [automationName(nodeId, event), event]));
    const found: Found[] = [];
    let pages = 0;
    for await (const page of relayPages(this.client, {
      query: FIND_OWN,
      variables: { filter: { name: { in: [...events.keys()] } } },
      path: ["automations", "all"],
      pageSize: 100,
    })) {
      for (const node of page.nodes) {
        const name = String(node.name ?? "");
        const event = events.get(name);
        if (event !== undefined && node.id !== undefined) {
          found.push({ id: String(node.id), name, event, enabled: node.enabled !== false });
        }
      }
      if (++pages >= MAX_PAGES) break;
    }
    return found.sort((a, b) => Number(a.id) - Number(b.id));
  }
}

/** The registrar of one connection: its API client, its registration memory and lease in the store. */
export function connectionRegistrar(options: {
  connectionId: string;
  client: ClarusClient;
  /** Where the registration memory is kept: the connection's store. */
  documents: Pick<Documents, "readDocument" | "writeDocument">;
  /** One registration at a time across the instances that share the store. */
  lease?: RegistrationLease;
  warn: (message: string) => void;
}): AutomationRegistrar {
  const memory = new RegistrationMemory(
    options.documents,
    registrationMemoryName(options.connectionId),
    options.warn,
  );
  return new AutomationRegistrar(options.connectionId, options.client, memory, options.lease);
}

function itemFor(automation: Found, outcome: RegistrationOutcome): RegistrationItem {
  return { event: automation.event, name: automation.name, outcome, automationId: automation.id };
}

function path(id: string): string {
  return `/api/automations/${encodeURIComponent(id)}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const queues = new Map<string, Promise<unknown>>();

/** Runs `work` after every earlier work of the same key has settled. */
function serialised<T>(key: string, work: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  const result = previous.then(work, work);
  const tail = result.then(
    () => undefined,
    () => undefined,
  );
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return result;
}
