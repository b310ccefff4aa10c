import { TRANSACTION_SUBTYPE_EVENTS } from "../events/classify";
import { isPlainObject } from "../json";
import { ConfigError } from "../node-red/errors";

const EVENT_ID = /^[a-z_]+\.[a-z_]+$/;

/**
 * The poll node's `subtypes` property: transaction subtype code -> event, as an object
 * (`{"ADJUP": "stock.positively_adjusted"}`). Clarus does not publish these codes,
 * so a node without the property (a 0.1 flow) uses the built-in guesses. Codes compare in upper case.
 */
export function subtypeEvents(value: unknown): Record<string, string> {
  if (value === undefined || value === null || value === "") return { ...TRANSACTION_SUBTYPE_EVENTS };
  if (!isPlainObject(value)) throw new ConfigError("subtypes must map subtype codes to events");
  const map: Record<string, string> = {};
  for (const [code, event] of Object.entries(value)) {
    const key = code.trim().toUpperCase();
    const id = typeof event === "string" ? event.trim() : "";
    if (!key || !EVENT_ID.test(id)) {
      throw new ConfigError(
        `subtype ${JSON.stringify(code)} must map to an event id such as stock.placed_on_hold`,
      );
    }
    map[key] = id;
  }
  return map;
}
