import { ClarusApiError } from "../api/client";
import type { JsonObject } from "../json";
import { isPlainObject } from "../json";
import { errorMessage } from "../node-red/errors";

/**
 * The JSON:API documents of Clarus's REST automations API (`POST`, `PATCH`, `DELETE /api/automations`): a
 * webhook automation to create, the changes that bring one back to the wanted URL and method, and what a
 * read tells about one.
 */

export type WebhookMethod = "POST" | "GET";

/** What one registered automation should be. */
export interface WantedAutomation {
  name: string;
  /** `resource.event`, e.g. `goods_out.completed`. */
  event: string;
  url: string;
  method: WebhookMethod;
}

export function createDocument(wanted: WantedAutomation): JsonObject {
  const [resource, event] = splitEvent(wanted.event);
  return document({
    resource_name: resource,
    event,
    name: wanted.name,
    enabled: true,
    conditions_changes: [],
    actions_changes: [webhookAction(wanted)],
  });
}

/** An ADD change of one webhook action with the wanted URL and method. */
function webhookAction(wanted: WantedAutomation): JsonObject {
  return {
    type: "ADD",
    attributes: {
      destination_type: "webhook",
      // The code of Clarus's own example; Clarus documents no other for webhooks.
      destination_code: "default",
      parameters_changes: [
        addParameter("webhook_url", wanted.url),
        addParameter("webhook_method", wanted.method),
      ],
    },
  };
}

export function document(attributes: JsonObject): JsonObject {
  return { data: { type: "automations", attributes } };
}

/** One parameter of a webhook action, with the id a PATCH needs to change it. */
interface Parameter {
  id: number;
  code: string;
  value: string;
}

/** An automation as a read shows it; `webhookActions` is what the PATCH works on. */
export interface AutomationDetails {
  enabled: boolean;
  resourceName: string;
  event: string;
  webhookActions: { id: number; parameters: Parameter[] }[];
}

/**
 * Reads `GET /api/automations/{id}`'s `data.attributes`, with `actions[].parameters[]` and their ids.
 * Undefined when the answer does not carry the actions: then a PATCH cannot name what to change.
 */
export function readDetails(body: unknown): AutomationDetails | undefined {
  const data = isPlainObject(body) ? body.data : undefined;
  const attributes = isPlainObject(data) ? data.attributes : undefined;
  if (!isPlainObject(attributes) || !Array.isArray(attributes.actions)) return undefined;
  const webhookActions: AutomationDetails["webhookActions"] = [];
  for (const action of attributes.actions) {
    if (!isPlainObject(action) || action.destination_type !== "webhook") continue;
    const id = integerId(action.id);
    if (id === undefined || !Array.isArray(action.parameters)) return undefined;
    const parameters: Parameter[] = [];
    for (const parameter of action.parameters) {
      const parameterId = isPlainObject(parameter) ? integerId(parameter.id) : undefined;
      if (!isPlainObject(parameter) || parameterId === undefined) return undefined;
      parameters.push({
        id: parameterId,
        code: String(parameter.parameter_code),
        value: String(parameter.value),
      });
    }
    webhookActions.push({ id, parameters });
  }
  return {
    enabled: attributes.enabled === true,
    resourceName: String(attributes.resource_name ?? ""),
    event: String(attributes.event ?? ""),
    webhookActions,
  };
}

/**
 * The PATCH attributes that make an automation send one webhook to the wanted URL and method, enabled, on
 * its event; undefined when it already does. The first webhook action is kept and changed in place; any
 * other webhook action would send each event twice, so it goes.
 */
export function repairAttributes(
  details: AutomationDetails,
  wanted: WantedAutomation,
): JsonObject | undefined {
  const attributes: JsonObject = {};
  const [resource, event] = splitEvent(wanted.event);
  if (details.resourceName !== resource || details.event !== event) {
    attributes.resource_name = resource;
    attributes.event = event;
  }
  if (!details.enabled) attributes.enabled = true;
  const [kept, ...extra] = details.webhookActions;
  const actionChanges: JsonObject[] = extra.map((action) => ({ type: "DESTROY", id: action.id }));
  if (!kept) {
    actionChanges.push(webhookAction(wanted));
  } else {
    const parameterChanges = [
      ...parameterRepairs(kept.parameters, "webhook_url", wanted.url),
      ...parameterRepairs(kept.parameters, "webhook_method", wanted.method),
    ];
    if (parameterChanges.length > 0) {
      actionChanges.push({
        type: "UPDATE",
        id: kept.id,
        attributes: { parameters_changes: parameterChanges },
      });
    }
  }
  if (actionChanges.length > 0) attributes.actions_changes = actionChanges;
  return Object.keys(attributes).length > 0 ? attributes : undefined;
}

/** UPDATE the parameter when its value differs, ADD it when missing, DESTROY copies of it. */
function parameterRepairs(parameters: Parameter[], code: string, value: string): JsonObject[] {
  const [first, ...copies] = parameters.filter((p) => p.code === code);
  const changes: JsonObject[] = copies.map((copy) => ({ type: "DESTROY", id: copy.id }));
  if (!first) changes.push(addParameter(code, value));
  else if (first.value !== value) changes.push({ type: "UPDATE", id: first.id, attributes: { value } });
  return changes;
}

function addParameter(code: string, value: string): JsonObject {
  return { type: "ADD", attributes: { parameter_code: code, value } };
}

/** The integer id in a create or update answer (`data.id`), as a string like every automation id here. */
export function resourceId(body: unknown): string {
  const data = isPlainObject(body) ? body.data : undefined;
  const id = isPlainObject(data) ? integerId(data.id) : undefined;
  if (id === undefined) {
    throw new ClarusApiError("Clarus answered the automation request without an automation id", {
      reason: "response",
    });
  }
  return String(id);
}

/**
 * A failed API call in words a user can act on: the status, and for Clarus's `errors` shape each `details`
 * with the field it names (`source`), so a 422 says which field Clarus refused.
 */
export function describeApiError(error: unknown): string {
  if (!(error instanceof ClarusApiError)) return errorMessage(error);
  const described = (error.apiErrors ?? []).map((entry) => {
    const details = typeof entry.details === "string" ? entry.details : String(entry.symbol ?? "error");
    return typeof entry.source === "string" && entry.source !== ""
      ? `${details} (field ${entry.source})`
      : details;
  });
  if (described.length === 0) return error.message;
  const status = error.status === undefined ? "" : `HTTP ${error.status}: `;
  return `Clarus refused it, ${status}${described.join("; ").slice(0, 300)}`;
}

export function splitEvent(event: string): [string, string] {
  const dot = event.indexOf(".");
  return [event.slice(0, dot), event.slice(dot + 1)];
}

function integerId(value: unknown): number | undefined {
  const id = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  return typeof id === "number" && Number.isInteger(id) && id > 0 ? id : undefined;
}
