import { AutomationChangeError, createAutomation, type PartIds, updateAutomation } from "./automations";
import { restError } from "./rest-error";
import type { Store } from "./store";
import type { Automation } from "./types";

/**
 * The REST automations API as Clarus documents it: `POST /api/automations`, `PATCH` and `DELETE
 * /api/automations/{id}`, JSON:API bodies with integer ids, 204 on delete, and the documented error shapes
 * (404/422 `{"errors":[{code, symbol, details, source, context}]}`; 401 and 403 come from the server's
 * tenant check). Clarus documents no REST read: lists go through GraphQL `automations`. The simulator also
 * answers `GET /api/automations` and `GET /api/automations/{id}` with the conditions and actions (what a
 * JSON:API `show` would give); `reads = false` turns them off, to play a tenant that has only the
 * documented endpoints.
 */

export type AutomationOperation = "list" | "read" | "create" | "update" | "delete";

/**
 * Fails requests of one operation on purpose: the `nth` matching request from now (default 1) and the
 * `times - 1` after it (default 1) are answered `status`. 5xx is a gateway's HTML page, 429 carries
 * `Retry-After: 1`, 422 echoes the request's `webhook_url` back in `details` as a real validation error
 * may, others use the `errors` shape.
 */
export interface AutomationFault {
  operation: AutomationOperation;
  status: number;
  nth?: number;
  times?: number;
}

export interface RestRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** The parsed JSON body; undefined when there was none. */
  body: unknown;
}

export interface RestAnswer {
  status: number;
  body?: unknown;
  /** Answer with a gateway's HTML error page instead of JSON. */
  html?: boolean;
  headers?: Record<string, string>;
}

interface ArmedFault extends Required<AutomationFault> {
  seen: number;
}

const COLLECTION = /^\/api\/automations$/;
const MEMBER = /^\/api\/automations\/([^/]+)$/;

export class AutomationsApi {
  /** Whether the undocumented GET endpoints answer (default true). */
  reads = true;
  /** Requests answered, by operation, faults included. */
  readonly counts: Record<AutomationOperation, number> = {
    list: 0,
    read: 0,
    create: 0,
    update: 0,
    delete: 0,
  };
  /** Faults fired so far, by operation. */
  readonly faultsFired: Record<AutomationOperation, number> = {
    list: 0,
    read: 0,
    create: 0,
    update: 0,
    delete: 0,
  };
  private faults: ArmedFault[] = [];

  constructor(
    private readonly store: Store,
    private readonly ids: PartIds,
    private readonly now: () => number,
  ) {}

  /** Replaces the armed faults; counting starts now. */
  setFaults(faults: AutomationFault[]): void {
    this.faults = faults.map((fault) => {
      const nth = fault.nth ?? 1;
      const times = fault.times ?? 1;
      if (!Number.isInteger(nth) || nth < 1) throw new RangeError("fault nth must be a whole number from 1");
      if (!Number.isInteger(times) || times < 1)
        throw new RangeError("fault times must be a whole number from 1");
      if (!Number.isInteger(fault.status) || fault.status < 400 || fault.status > 599) {
        throw new RangeError("fault status must be an HTTP error status (400-599)");
      }
      return { ...fault, nth, times, seen: 0 };
    });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Whether this server path is ours: the server's hook asks before it checks the tenant. */
  owns(path: string): boolean {
    return COLLECTION.test(path) || MEMBER.test(path);
  }

  handle(request: RestRequest): RestAnswer {
    const { method, path } = request;
    const member = MEMBER.exec(path);
    const operation = operationOf(method, member !== null);
    if (!operation) {
      const allow = member ? "GET, PATCH, DELETE" : "GET, POST";
      return {
        status: 405,
        body: restError(405, "method_not_allowed", `Use ${allow}`),
        headers: { Allow: allow },
      };
    }
    if (!this.reads && (operation === "list" || operation === "read")) {
      return { status: 404, body: restError(404, "not_found", `No route for ${method} ${path}`) };
    }
    this.counts[operation]++;
    const fault = this.fault(operation, request.body);
    if (fault) return fault;
    const id = member ? Number(member[1]) : undefined;
    if (member && !(Number.isInteger(id) && String(id) === member[1])) {
      return { status: 404, body: restError(404, "not_found", `Automation ${member[1]} not found`) };
    }
    try {
      switch (operation) {
        case "list":
          return { status: 200, body: { data: this.list(request.query).map((row) => resource(row, true)) } };
        case "read":
          return this.withRow(id as number, (row) => ({ status: 200, body: { data: resource(row, true) } }));
        case "create": {
          const row = createAutomation(this.store, this.ids, documentAttributes(request.body), this.now());
          return { status: 200, body: { data: resource(row, false) } };
        }
        case "update":
          return this.withRow(id as number, (row) => {
            updateAutomation(row, this.ids, documentAttributes(request.body));
            return { status: 200, body: { data: resource(row, false) } };
          });
        case "delete":
          return this.withRow(id as number, (row) => {
            this.store.automations.remove(row.id);
            return { status: 204 };
          });
      }
    } catch (error) {
      if (error instanceof AutomationChangeError) {
        return { status: 422, body: restError(422, error.symbol, error.message, error.source) };
      }
      throw error;
    }
  }

  private withRow(id: number, use: (row: Automation) => RestAnswer): RestAnswer {
    const row = this.store.automations.get(id);
    if (!row) return { status: 404, body: restError(404, "not_found", `Automation ${id} not found`) };
    return use(row);
  }

  /** JSON:API filters: `filter[name]`, `filter[resource_name]`, `filter[event]`, `filter[enabled]`, exact. */
  private list(query: URLSearchParams): Automation[] {
    const filters: Array<[keyof Automation, string]> = [];
    for (const key of ["name", "resource_name", "event", "enabled"] as const) {
      const value = query.get(`filter[${key}]`);
      if (value !== null) filters.push([key, value]);
    }
    return this.store.automations
      .all()
      .filter((row) => filters.every(([key, value]) => String(row[key]) === value));
  }

  private fault(operation: AutomationOperation, body: unknown): RestAnswer | undefined {
    for (const fault of this.faults) {
      if (fault.operation !== operation) continue;
      fault.seen++;
      if (fault.seen < fault.nth || fault.seen >= fault.nth + fault.times) continue;
      this.faultsFired[operation]++;
      if (fault.status >= 500) return { status: fault.status, html: true };
      if (fault.status === 429) {
        return { status: 429, body: { error: "Too many requests" }, headers: { "Retry-After": "1" } };
      }
      if (fault.status === 422) {
        const url = submittedWebhookUrl(body);
        const details = url ? `webhook_url ${url} could not be verified` : "the automation is not valid";
        return { status: 422, body: restError(422, "invalid_attribute", details, "webhook_url") };
      }
      return {
        status: fault.status,
        body: restError(fault.status, "simulated_fault", `Simulated ${fault.status}`),
      };
    }
    return undefined;
  }
}

function operationOf(method: string, member: boolean): AutomationOperation | undefined {
  if (member) {
    if (method === "GET") return "read";
    if (method === "PATCH") return "update";
    if (method === "DELETE") return "delete";
    return undefined;
  }
  if (method === "GET") return "list";
  if (method === "POST") return "create";
  return undefined;
}

/** `data.attributes` of a JSON:API document whose `data.type` is `automations`. */
function documentAttributes(body: unknown): unknown {
  const data = isRecord(body) ? body.data : undefined;
  if (!isRecord(data))
    throw new AutomationChangeError("invalid_document", "the body needs a data object", "data");
  if (data.type !== "automations") {
    throw new AutomationChangeError("invalid_document", 'data.type must be "automations"', "data.type");
  }
  return data.attributes;
}

/**
 * The JSON:API resource. Create and update answer the documented attributes only (`resource_name`,
 * `event`, `enabled`); the simulator's reads add the rest.
 */
function resource(row: Automation, full: boolean): unknown {
  const attributes: Record<string, unknown> = {
    resource_name: row.resource_name,
    event: row.event,
    enabled: row.enabled,
  };
  if (full) {
    Object.assign(attributes, {
      name: row.name,
      integration_id: row.integration_id,
      created_at: row.created_at,
      conditions: row.conditions,
      actions: row.actions,
    });
  }
  return { id: row.id, type: "automations", attributes };
}

function submittedWebhookUrl(body: unknown): string | undefined {
  const attributes = isRecord(body) && isRecord(body.data) ? body.data.attributes : undefined;
  const actions =
    isRecord(attributes) && Array.isArray(attributes.actions_changes) ? attributes.actions_changes : [];
  for (const action of actions) {
    const parameters =
      isRecord(action) && isRecord(action.attributes) ? action.attributes.parameters_changes : [];
    for (const parameter of Array.isArray(parameters) ? parameters : []) {
      const attrs = isRecord(parameter) ? parameter.attributes : undefined;
      if (isRecord(attrs) && attrs.parameter_code === "webhook_url" && typeof attrs.value === "string") {
        return attrs.value;
      }
    }
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
