import { CLARUS_EVENTS } from "../nodes/lib/events/vocabulary";
import type { Store } from "./store";
import { isoSeconds } from "./time";
import type {
  Automation,
  AutomationAction,
  AutomationCondition,
  AutomationParameter,
  WebhookMethod,
} from "./types";

/**
 * Automations as the Clarus REST API manages them: attributes plus conditions, actions and action
 * parameters, changed inline through `ADD`/`UPDATE`/`DESTROY` change objects. Every change is checked
 * against the documented enums and applied to a copy first, so a 422 leaves the automation as it was.
 */

/** The `destination_type` enum Clarus documents (`AutomationActionChange` in its OpenAPI spec). */
const DESTINATION_TYPES = new Set([
  "api",
  "ftp",
  "email",
  "webhook",
  "maxoptra",
  "brightpearl",
  "file_import",
  "ai",
  "process_picks",
]);

/** The `parameter_code` enum Clarus documents (`AutomationActionParameterChange` in its OpenAPI spec). */
const PARAMETER_CODES = new Set([
  "hold_notes",
  "webhook_method",
  "webhook_url",
  "reason_code_id",
  "template",
  "document_category",
  "file_name",
  "ftp_user_id",
  "integration_id",
  "mapping_group_id",
  "import_configuration_id",
  "report_query_id",
  "query_variables",
  "printer_id",
  "pick_type",
  "pack_strategy",
  "dispatch_strategy",
  "carrier_id",
  "carrier_service_id",
  "email_recipient",
  "email_subject",
  "email_body",
  "prompt",
  "dispatch_note_template_id",
  "invoice_template_id",
  "load_drop_manifest_template_id",
  "picking_note_template_id",
  "pre_receipt_template_id",
  "putaway_note_template_id",
  "account_id",
  "customer_id",
  "order_type_id",
  "warehouse_id",
  "expected_date_of_dispatch",
]);

const CONDITION_OPERATORS = new Set([
  "eq",
  "neq",
  "in",
  "notin",
  "matches",
  "greater_than",
  "greater_than_eq",
  "less_than",
  "less_than_eq",
  "starts_with",
]);

const CHANGE_TYPES = new Set(["ADD", "UPDATE", "DESTROY"]);

/** A change Clarus would refuse: answered 422 in the `errors` shape, naming the field in `source`. */
export class AutomationChangeError extends Error {
  constructor(
    readonly symbol: string,
    message: string,
    readonly source: string | null,
  ) {
    super(message);
  }
}

/** What one webhook action of an enabled automation sends to: one delivery per event each. */
export interface WebhookTarget {
  id: number;
  integration_id: number | null;
  url: string;
  method: WebhookMethod;
}

type Attributes = Record<string, unknown>;
type Mode = "create" | "update";

/** Hands out ids for conditions, actions and parameters, each kind from its own range. */
export class PartIds {
  private next = { condition: 601, action: 701, parameter: 801 };

  take(kind: keyof PartIds["next"]): number {
    return this.next[kind]++;
  }
}

/** `POST /api/automations`: a new automation from JSON:API attributes. */
export function createAutomation(store: Store, ids: PartIds, attributes: unknown, nowMs: number): Automation {
  const attrs = requireObject(attributes, "data.attributes");
  const draft: Omit<Automation, "id"> = {
    name: "",
    resource_name: "",
    event: "",
    enabled: false,
    integration_id: null,
    created_at: isoSeconds(nowMs),
    conditions: [],
    actions: [],
  };
  for (const key of ["resource_name", "event", "enabled", "conditions_changes", "actions_changes"]) {
    if (attrs[key] === undefined || attrs[key] === null) {
      throw new AutomationChangeError("missing_attribute", `${key} is required`, key);
    }
  }
  applyAttributes(draft, attrs, ids, "create");
  return store.automations.insert(draft);
}

/** `PATCH /api/automations/{id}`: every attribute optional, changes may also UPDATE and DESTROY. */
export function updateAutomation(row: Automation, ids: PartIds, attributes: unknown): void {
  const attrs = requireObject(attributes, "data.attributes");
  const draft = structuredClone(row);
  applyAttributes(draft, attrs, ids, "update");
  Object.assign(row, draft);
}

/** The automation's webhook actions, each a delivery target; none while it is disabled. */
export function webhookTargets(row: Automation): WebhookTarget[] {
  if (!row.enabled) return [];
  return row.actions
    .filter((action) => action.destination_type === "webhook")
    .map((action) => ({
      id: row.id,
      integration_id: row.integration_id,
      url: parameterValue(action, "webhook_url") ?? "",
      method: (parameterValue(action, "webhook_method") ?? "POST").toUpperCase() as WebhookMethod,
    }));
}

export function parameterValue(action: AutomationAction, code: string): string | undefined {
  return action.parameters.find((p) => p.parameter_code === code)?.value;
}

/** The attributes of a webhook automation with one action, as a REST client would send them. */
export function webhookAttributes(input: {
  resource_name: string;
  event: string;
  name: string;
  enabled: boolean;
  url: string;
  method: WebhookMethod;
}): Attributes {
  return {
    resource_name: input.resource_name,
    event: input.event,
    name: input.name,
    enabled: input.enabled,
    conditions_changes: [],
    actions_changes: [
      {
        type: "ADD",
        attributes: {
          destination_type: "webhook",
          destination_code: "default",
          parameters_changes: [
            { type: "ADD", attributes: { parameter_code: "webhook_url", value: input.url } },
            { type: "ADD", attributes: { parameter_code: "webhook_method", value: input.method } },
          ],
        },
      },
    ],
  };
}

function applyAttributes(draft: Omit<Automation, "id">, attrs: Attributes, ids: PartIds, mode: Mode): void {
  if (attrs.resource_name !== undefined && attrs.resource_name !== null) {
    if (typeof attrs.resource_name !== "string" || !(attrs.resource_name in CLARUS_EVENTS)) {
      throw new AutomationChangeError(
        "invalid_attribute",
        `resource_name ${JSON.stringify(attrs.resource_name)} is not a Clarus resource`,
        "resource_name",
      );
    }
    draft.resource_name = attrs.resource_name;
  }
  if (attrs.event !== undefined && attrs.event !== null) {
    if (typeof attrs.event !== "string") {
      throw new AutomationChangeError("invalid_attribute", "event must be a string", "event");
    }
    draft.event = attrs.event;
  }
  if (!(CLARUS_EVENTS[draft.resource_name] ?? []).includes(draft.event)) {
    throw new AutomationChangeError(
      "invalid_attribute",
      `event "${draft.event}" is not an event of ${draft.resource_name}`,
      "event",
    );
  }
  if (attrs.name !== undefined) {
    if (attrs.name !== null && typeof attrs.name !== "string") {
      throw new AutomationChangeError("invalid_attribute", "name must be a string", "name");
    }
    draft.name = attrs.name ?? "";
  }
  if (attrs.enabled !== undefined && attrs.enabled !== null) {
    if (typeof attrs.enabled !== "boolean") {
      throw new AutomationChangeError("invalid_attribute", "enabled must be true or false", "enabled");
    }
    draft.enabled = attrs.enabled;
  }
  for (const [index, change] of changeList(attrs.conditions_changes, "conditions_changes")) {
    applyCondition(draft.conditions, change, `conditions_changes[${index}]`, ids, mode);
  }
  for (const [index, change] of changeList(attrs.actions_changes, "actions_changes")) {
    applyAction(draft.actions, change, `actions_changes[${index}]`, ids, mode);
  }
  for (const action of draft.actions) checkWebhookAction(action);
}

interface Change {
  type: "ADD" | "UPDATE" | "DESTROY";
  id?: number;
  attributes: Attributes;
}

function changeList(value: unknown, source: string): Array<[number, unknown]> {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value))
    throw new AutomationChangeError("invalid_attribute", `${source} must be a list`, source);
  return value.map((change, index) => [index, change]);
}

function readChange(value: unknown, source: string, mode: Mode): Change {
  const change = requireObject(value, source);
  if (typeof change.type !== "string" || !CHANGE_TYPES.has(change.type)) {
    throw new AutomationChangeError(
      "invalid_change",
      "type must be ADD, UPDATE or DESTROY",
      `${source}.type`,
    );
  }
  if (mode === "create" && change.type !== "ADD") {
    throw new AutomationChangeError(
      "invalid_change",
      "only ADD changes are allowed when creating",
      `${source}.type`,
    );
  }
  const type = change.type as Change["type"];
  if (type !== "ADD" && !(typeof change.id === "number" && Number.isInteger(change.id))) {
    throw new AutomationChangeError(
      "invalid_change",
      `${type} needs the id of an existing record`,
      `${source}.id`,
    );
  }
  const attributes =
    change.attributes === undefined && type === "DESTROY"
      ? {}
      : requireObject(change.attributes, `${source}.attributes`);
  return { type, id: change.id as number | undefined, attributes };
}

/** Finds the record an UPDATE or DESTROY names among this automation's own, or refuses. */
function existing<T extends { id: number }>(list: T[], change: Change, source: string): number {
  const index = list.findIndex((item) => item.id === change.id);
  if (index === -1) {
    throw new AutomationChangeError(
      "record_not_found",
      `no record ${change.id} on this automation`,
      `${source}.id`,
    );
  }
  return index;
}

/**
 * One change object on a list of conditions, actions or parameters: DESTROY removes the named record,
 * UPDATE replaces it with `build(record, attributes)`, ADD appends `build(blank, attributes)` with a new id.
 */
function applyChange<T extends { id: number }>(
  list: T[],
  value: unknown,
  source: string,
  mode: Mode,
  blank: T,
  build: (current: T, attributes: Attributes) => T,
  newId: () => number,
): void {
  const change = readChange(value, source, mode);
  const index = change.type === "ADD" ? -1 : existing(list, change, source);
  if (change.type === "DESTROY") {
    list.splice(index, 1);
    return;
  }
  const next = build(index === -1 ? blank : (list[index] as T), change.attributes);
  if (index === -1) list.push({ ...next, id: newId() });
  else list[index] = next;
}

function applyCondition(
  list: AutomationCondition[],
  value: unknown,
  source: string,
  ids: PartIds,
  mode: Mode,
): void {
  const blank = { id: 0, condition_code: "", source_path: "", operator: "", value: "" };
  applyChange(
    list,
    value,
    source,
    mode,
    blank,
    (current, attributes) => {
      const next = {
        ...current,
        ...pick(attributes, ["condition_code", "source_path", "operator", "value"]),
      };
      if (typeof next.operator !== "string" || !CONDITION_OPERATORS.has(next.operator)) {
        throw new AutomationChangeError(
          "invalid_attribute",
          "operator is not a condition operator",
          `${source}.attributes.operator`,
        );
      }
      if (typeof next.condition_code !== "string" || next.condition_code === "") {
        throw new AutomationChangeError(
          "invalid_attribute",
          "condition_code is required",
          `${source}.attributes.condition_code`,
        );
      }
      return next;
    },
    () => ids.take("condition"),
  );
}

function applyAction(
  list: AutomationAction[],
  value: unknown,
  source: string,
  ids: PartIds,
  mode: Mode,
): void {
  const blank: AutomationAction = {
    id: 0,
    destination_type: "",
    destination_code: "default",
    parameters: [],
  };
  applyChange(
    list,
    value,
    source,
    mode,
    blank,
    (current, attributes) => {
      const action = { ...current, parameters: [...current.parameters] };
      if (attributes.destination_type !== undefined) {
        if (
          typeof attributes.destination_type !== "string" ||
          !DESTINATION_TYPES.has(attributes.destination_type)
        ) {
          throw new AutomationChangeError(
            "invalid_attribute",
            `destination_type ${JSON.stringify(attributes.destination_type)} is not a destination type`,
            "destination_type",
          );
        }
        action.destination_type = attributes.destination_type;
      }
      if (attributes.destination_code !== undefined)
        action.destination_code = String(attributes.destination_code);
      if (action.destination_type === "") {
        throw new AutomationChangeError(
          "missing_attribute",
          "destination_type is required",
          "destination_type",
        );
      }
      const parameters = `${source}.parameters_changes`;
      for (const [index, parameter] of changeList(attributes.parameters_changes, parameters)) {
        applyParameter(action.parameters, parameter, `${parameters}[${index}]`, ids, mode);
      }
      return action;
    },
    () => ids.take("action"),
  );
}

function applyParameter(
  list: AutomationParameter[],
  value: unknown,
  source: string,
  ids: PartIds,
  mode: Mode,
): void {
  const blank: AutomationParameter = { id: 0, parameter_code: "", value: "", operator: null };
  applyChange(
    list,
    value,
    source,
    mode,
    blank,
    (current, attributes) => {
      const code = attributes.parameter_code ?? current.parameter_code;
      if (typeof code !== "string" || !PARAMETER_CODES.has(code)) {
        throw new AutomationChangeError(
          "invalid_attribute",
          `parameter_code ${JSON.stringify(code)} is not a parameter code`,
          "parameter_code",
        );
      }
      const parameterValue = attributes.value ?? current.value;
      if (typeof parameterValue !== "string") {
        throw new AutomationChangeError("invalid_attribute", `${code} must be a string`, code);
      }
      const operator = attributes.operator === undefined ? current.operator : attributes.operator;
      return {
        id: current.id,
        parameter_code: code,
        value: parameterValue,
        operator: typeof operator === "string" ? operator : null,
      };
    },
    () => ids.take("parameter"),
  );
}

/** A webhook action needs exactly one valid URL and a method Clarus offers (POST or GET). */
function checkWebhookAction(action: AutomationAction): void {
  if (action.destination_type !== "webhook") return;
  const urls = action.parameters.filter((p) => p.parameter_code === "webhook_url");
  if (urls.length !== 1) {
    throw new AutomationChangeError(
      "invalid_attribute",
      "a webhook action needs one webhook_url",
      "webhook_url",
    );
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(urls[0]!.value);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new AutomationChangeError("invalid_attribute", "webhook_url is not an http(s) URL", "webhook_url");
  }
  const methods = action.parameters.filter((p) => p.parameter_code === "webhook_method");
  if (methods.length > 1 || (methods[0] && !/^(POST|GET)$/i.test(methods[0].value))) {
    throw new AutomationChangeError(
      "invalid_attribute",
      "webhook_method must be POST or GET",
      "webhook_method",
    );
  }
}

function requireObject(value: unknown, source: string): Attributes {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new AutomationChangeError("invalid_attribute", `${source} must be an object`, source);
  }
  return value as Attributes;
}

function pick(attrs: Attributes, keys: string[]): Attributes {
  return Object.fromEntries(keys.filter((key) => attrs[key] !== undefined).map((key) => [key, attrs[key]]));
}
