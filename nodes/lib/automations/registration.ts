import { ClarusApiError, type ClarusClient } from "../api/client";
import { relayPages } from "../api/relay";
import type { JsonObject } from "../json";
import { redactToken } from "../node-red/redact";
import type { ConnectionStore } from "../store/connection-store";
import type { Documents } from "../store/connection-store";
import { whileHolding } from "../store/lease-holder";
import {
  type AutomationDetails,
  createDocument,
  describeApiError,
  document,
  readDetails,
  repairAttributes,
  resourceId,
  type WantedAutomation,
  type WebhookMethod,
} from "./documents";
import { DriftCounts, driftOf, type DriftRepair } from "./drift";
import { checkedWithin, DriftChecks } from "./drift-checks";
import { automationName, exactNames, type Installation, namePattern, parseAutomationName } from "./names";
import { type Found, type LeftAlone, type Owned, type OwnershipEvidence, sortOut } from "./ownership";
import { RegistrationMemory, registrationMemoryName, webhookFingerprint } from "./registration-memory";

export type RegistrationOutcome = "exists" | "created" | "updated" | "disabled" | "deleted" | "failed";

export interface RegistrationItem {
  event: string;
  name: string;
  outcome: RegistrationOutcome;
  /** The automation that now serves the event (or was disabled or deleted). */
  automationId?: string;
  /** Automations of this event that are gone now: duplicates deleted, or one replaced by a new one. */
  removedIds?: string[];
  /** An earlier version named it without the installation mark; it was proven this installation's and renamed. */
  adopted?: true;
  error?: string;
}

export interface RegistrationReport {
  items: RegistrationItem[];
  /** Automations named for the node that are not this installation's: never changed, never deleted. */
  leftAlone?: LeftAlone[];
  /** Set when nothing could be done (the lookup failed); nothing was changed then. */
  error?: string;
}

/** Whose automations: the node's, in this installation. */
export interface NodeAutomations {
  nodeId: string;
  /** This installation's mark; undefined without a public URL (then only what its memory knows is its own). */
  installation?: Installation;
  /** `<publicUrl><httpNodeRoot><path>`: a webhook URL at or below it posts to this node here. */
  listensAt?: string;
  /** The webhook token: shown as `<webhook token>` in every message, even when Clarus echoes the URL. */
  secret?: string;
}

export interface EnsureRequest extends NodeAutomations {
  installation: Installation;
  /** The events to register, `resource.event`; the node's other registered events are disabled. */
  events: readonly string[];
  url: string;
  method: WebhookMethod;
}

/** A drift check's request: the node's registration, and what it knows of the automations serving it. */
export interface DriftRequest extends EnsureRequest {
  /** How often the node's automations are read back (`driftMinutes`). */
  periodMs: number;
  /** The automation that last served each event, by event: a deleted one is named by it, and forgotten. */
  expected: ReadonlyMap<string, string>;
  /** Aborted when the node closes: a check that has not begun yet is not made. */
  signal?: AbortSignal;
}

/** What one drift check of a node did. */
export type DriftReport =
  /** Read back: one item per listed event (an unchanged one `exists`), and one repair per drifted one. */
  | { outcome: "checked"; items: RegistrationItem[]; repairs: DriftRepair[] }
  /** The read failed: nothing was changed. */
  | { outcome: "failed"; error: string }
  /** Another instance sharing the store checked the node at `at` (epoch ms), less than a period ago. */
  | { outcome: "recent"; at: number }
  /** The node closed before its check began. */
  | { outcome: "cancelled" };

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
 * Webhook self-registration: one enabled Clarus automation per listed event, named `node-red-clarus <node id>
 * <event> @<installation mark>` (names.ts), whose webhook action posts to the node's URL. Existing
 * ones are found by name (so never created twice, across redeploys and restarts), changed in place when the
 * URL or method differs, disabled by `disable` (the node paused, or nothing listed) and deleted only by `remove`.
 * Another installation's automations of the same node id are never changed or deleted (ownership.ts).
 * Runs one at a time per connection, so two nodes deploying at once never interleave their calls, and, with a
 * lease in the connection's store, one at a time across instances: several Node-RED instances deploying the
 * same flows at once create each automation once.
 *
 * Clarus documents no REST read of an automation. Where `GET
 * /api/automations/{id}` answers with the actions, changes are exact PATCHes (UPDATE the parameters by id).
 * Where it does not, the memory of what was last written decides, and a changed URL replaces the
 * automation (DELETE, then POST) since a PATCH cannot name the parameter to change.
 */
export class AutomationRegistrar {
  /** False once a read was refused (404/405) or came without the actions. */
  private readsWork = true;
  /** False once the tenant refused the `like` lookup: others' automations are then not seen (and so not touched). */
  private patternsWork = true;

  constructor(
    private readonly key: string,
    /** GraphQL finds the automations by name (the one documented way to list them); REST changes them. */
    private readonly client: ClarusClient,
    private readonly memory: RegistrationMemory,
    private readonly lease?: RegistrationLease,
    /** When each node was last checked for drift, shared by the instances on one store. */
    private readonly driftChecks?: DriftChecks,
    /** The connection's drift figures: every check and repair is counted here. */
    readonly drift: DriftCounts = new DriftCounts(),
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

  /** Disables the node's automations, keeping them (and their ids) for the day it registers again. */
  disable(node: NodeAutomations): Promise<RegistrationReport> {
    return serialised(this.key, () => this.exclusive(() => this.disableNow(node)));
  }

  /** Deletes every automation this installation registered for the node (it was deleted from the flows). */
  remove(node: NodeAutomations): Promise<RegistrationReport> {
    return serialised(this.key, () => this.exclusive(() => this.removeNow(node)));
  }

  /**
   * Reads the node's automations back (one `automations` query by exact name) and repairs those changed in
   * Clarus since it registered them: a disabled one is enabled, a deleted one created again, a re-pointed one
   * set back (drift.ts). Unchanged ones cost no write. Holds the registration lease like `ensure`, and is left
   * out when another instance on the store checked the node less than a period ago.
   */
  checkDrift(request: DriftRequest): Promise<DriftReport> {
    return serialised(this.key, () => this.exclusive(() => this.driftNow(request))).catch(
      (error: unknown): DriftReport => {
        // The lease or the last check could not be read: the store cannot answer.
        this.drift.failed();
        return { outcome: "failed", error: redactToken(describeApiError(error), request.secret) };
      },
    );
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
    return this.withOwn(request, async (ours) => {
      const items: RegistrationItem[] = [];
      for (const event of request.events) {
        const wanted = wantedFor(request, event);
        const same = ofEvent(ours, wanted);
        items.push(await this.attempt(wanted, secret, () => this.ensureOne(wanted, same)));
      }
      for (const unlisted of ours.filter((f) => !request.events.includes(f.event) && f.enabled)) {
        items.push(await this.attempt(unlisted, secret, () => this.disableOne(unlisted, request)));
      }
      return items;
    });
  }

  private async driftNow(request: DriftRequest): Promise<DriftReport> {
    if (request.signal?.aborted) return { outcome: "cancelled" };
    const at = await this.driftChecks?.lastCheck(request.nodeId);
    if (at !== undefined && checkedWithin(at, request.periodMs, Date.now())) {
      this.drift.leftOut();
      return { outcome: "recent", at };
    }
    let ours: Owned[];
    try {
      ({ ours } = await sortOut(
        await this.lookUp(request.nodeId, { in: exactNames(request.nodeId, request.installation) }),
        this.evidence(request),
      ));
    } catch (error) {
      this.drift.failed();
      return { outcome: "failed", error: redactToken(describeApiError(error), request.secret) };
    }
    const items: RegistrationItem[] = [];
    const repairs: DriftRepair[] = [];
    for (const event of request.events) {
      const wanted = wantedFor(request, event);
      const [kept] = ofEvent(ours, wanted);
      const item = await this.attempt(wanted, request.secret, async () => {
        if (!kept) {
          const previous = request.expected.get(event);
          const created = await this.ensureOne(wanted, []);
          if (previous !== undefined) {
            await this.memory.forget([previous]);
            created.removedIds = [previous];
          }
          repairs.push({
            event,
            ...(previous !== undefined ? { automationId: previous } : {}),
            ...(created.automationId !== undefined ? { replacedBy: created.automationId } : {}),
            kinds: ["deleted"],
            changes: ["deleted"],
          });
          return created;
        }
        const details = kept.details ?? (await this.read(kept.id));
        const found = driftOf(kept, details, wanted);
        if (!found) return itemFor(kept, "exists");
        // Copies of one event are left to the next deploy: only the one kept is repaired here.
        const repaired = await this.ensureOne(wanted, [details ? { ...kept, details } : kept]);
        const replacedBy = repaired.automationId !== kept.id ? repaired.automationId : undefined;
        repairs.push({ event, automationId: kept.id, ...(replacedBy ? { replacedBy } : {}), ...found });
        return repaired;
      });
      items.push(item);
    }
    this.drift.checked(
      repairs,
      items.some((item) => item.outcome === "failed"),
    );
    // Not recorded (the store went away): another instance may check the node again this period; no harm.
    await this.driftChecks?.record(request.nodeId, Date.now()).catch(() => undefined);
    return { outcome: "checked", items, repairs };
  }

  private disableNow(node: NodeAutomations): Promise<RegistrationReport> {
    return this.withOwn(node, async (ours) => {
      const items: RegistrationItem[] = [];
      for (const automation of ours.filter((f) => f.enabled)) {
        items.push(await this.attempt(automation, node.secret, () => this.disableOne(automation, node)));
      }
      return items;
    });
  }

  private async removeNow(node: NodeAutomations): Promise<RegistrationReport> {
    await this.driftChecks?.forget(node.nodeId).catch(() => undefined);
    return this.withOwn(node, async (ours) => {
      const items: RegistrationItem[] = [];
      for (const automation of ours) {
        items.push(
          await this.attempt(automation, node.secret, async () => {
            await this.deleteIfThere(automation.id);
            return itemFor(automation, "deleted");
          }),
        );
      }
      return items;
    });
  }

  /** Disables one of the node's automations; one an earlier version named gets this installation's name too. */
  private async disableOne(automation: Owned, node: NodeAutomations): Promise<RegistrationItem> {
    const rename =
      automation.mark === undefined && node.installation
        ? { name: automationName(node.nodeId, automation.event, node.installation) }
        : {};
    await this.client.rest("PATCH", path(automation.id), { body: document({ enabled: false, ...rename }) });
    return { ...itemFor(automation, "disabled"), ...(rename.name ? { adopted: true as const } : {}) };
  }

  /**
   * Works on this installation's automations of the node; when they cannot be looked up, nothing is changed
   * and the report says why. The report lists the node's automations that are someone else's.
   */
  private async withOwn(
    node: NodeAutomations,
    work: (ours: Owned[]) => Promise<RegistrationItem[]>,
  ): Promise<RegistrationReport> {
    let ours: Owned[];
    let leftAlone: LeftAlone[];
    try {
      ({ ours, leftAlone } = await sortOut(await this.findNamed(node), this.evidence(node)));
    } catch (error) {
      return { items: [], error: redactToken(describeApiError(error), node.secret) };
    }
    const items = await work(ours);
    return leftAlone.length > 0 ? { items, leftAlone } : { items };
  }

  /** What proves an automation named for the node this installation's (ownership.ts). */
  private evidence(node: NodeAutomations): OwnershipEvidence {
    return {
      installation: node.installation,
      listensAt: node.listensAt,
      remembers: async (id) => (await this.memory.fingerprintOf(id)) !== undefined,
      read: (id) => this.read(id),
    };
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

  private async ensureOne(wanted: WantedAutomation, same: Owned[]): Promise<RegistrationItem> {
    const [kept, ...duplicates] = same;
    const removedIds: string[] = [];
    // Two of one event (an earlier instance raced, or a copy by hand) would each deliver every event.
    for (const duplicate of duplicates) {
      await this.deleteIfThere(duplicate.id);
      removedIds.push(duplicate.id);
    }
    const adopted = kept !== undefined && kept.mark === undefined;
    const item = (outcome: RegistrationOutcome, automationId: string): RegistrationItem => ({
      event: wanted.event,
      name: wanted.name,
      outcome,
      automationId,
      ...(removedIds.length > 0 ? { removedIds } : {}),
      ...(adopted ? { adopted } : {}),
    });
    if (!kept) return item("created", await this.create(wanted));

    const fingerprint = webhookFingerprint(wanted.url, wanted.method);
    const rename = kept.name === wanted.name ? undefined : { name: wanted.name };
    const details = kept.details ?? (await this.read(kept.id));
    if (details) {
      const repairs = repairAttributes(details, wanted);
      const changes = repairs || rename ? { ...repairs, ...rename } : undefined;
      if (changes) await this.client.rest("PATCH", path(kept.id), { body: document(changes) });
      await this.memory.remember(kept.id, fingerprint);
      return item(changes || removedIds.length > 0 ? "updated" : "exists", kept.id);
    }
    if ((await this.memory.fingerprintOf(kept.id)) === fingerprint) {
      if (kept.enabled && !rename) return item(removedIds.length > 0 ? "updated" : "exists", kept.id);
      await this.client.rest("PATCH", path(kept.id), { body: document({ enabled: true, ...rename }) });
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
   * The automations named for the node. Its own (this installation's mark, or none as an earlier version
   * named them) by exact name: `in` with each name for every known event, which needs no pattern semantics and
   * sees events the node no longer lists. Then, with a LIKE pattern on the name (a documented string operator),
   * those of every other mark, so that they can be reported; where the tenant refuses the pattern they are not
   * seen, and so never touched either.
   */
  private async findNamed(node: NodeAutomations): Promise<Found[]> {
    const found = new Map<string, Found>();
    const add = (list: Found[]): void => list.forEach((f) => found.set(f.id, f));
    add(await this.lookUp(node.nodeId, { in: exactNames(node.nodeId, node.installation) }));
    if (this.patternsWork) {
      try {
        add(await this.lookUp(node.nodeId, { like: namePattern(node.nodeId) }));
      } catch (error) {
        if (!(error instanceof ClarusApiError && error.kind === "graphql")) throw error;
        this.patternsWork = false;
      }
    }
    return [...found.values()].sort((a, b) => Number(a.id) - Number(b.id));
  }

  /** The automations whose name passes `nameFilter` and reads as one registration wrote for the node. */
  private async lookUp(nodeId: string, nameFilter: JsonObject): Promise<Found[]> {
    const found: Found[] = [];
    let pages = 0;
    for await (const page of relayPages(this.client, {
      query: FIND_OWN,
      variables: { filter: { name: nameFilter } },
      path: ["automations", "all"],
      pageSize: 100,
    })) {
      for (const node of page.nodes) {
        const name = String(node.name ?? "");
        const parts = parseAutomationName(name, nodeId);
        if (parts !== undefined && node.id !== undefined) {
          found.push({ id: String(node.id), name, ...parts, enabled: node.enabled !== false });
        }
      }
      if (++pages >= MAX_PAGES) break;
    }
    return found;
  }
}

/** The registrar of one connection: its API client, its registration memory and lease in the store. */
export function connectionRegistrar(options: {
  connectionId: string;
  client: ClarusClient;
  /** Where the registration memory and the drift checks are kept: the connection's store. */
  documents: Documents;
  /** One registration at a time across the instances that share the store. */
  lease?: RegistrationLease;
  /** The connection's drift figures; a registrar of its own counts into a fresh one. */
  drift?: DriftCounts;
  warn: (message: string) => void;
}): AutomationRegistrar {
  const memory = new RegistrationMemory(
    options.documents,
    registrationMemoryName(options.connectionId),
    options.warn,
  );
  return new AutomationRegistrar(
    options.connectionId,
    options.client,
    memory,
    options.lease,
    new DriftChecks(options.documents),
    options.drift,
  );
}

/** What the node's automation of `event` should be. */
function wantedFor(request: EnsureRequest, event: string): WantedAutomation {
  const name = automationName(request.nodeId, event, request.installation);
  return { name, event, url: request.url, method: request.method };
}

/** The node's automations of the wanted event; the one already named as wanted first: it needs no rename. */
function ofEvent(ours: readonly Owned[], wanted: WantedAutomation): Owned[] {
  return ours
    .filter((f) => f.event === wanted.event)
    .sort((a, b) => Number(b.name === wanted.name) - Number(a.name === wanted.name));
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
