import { isPlainObject, type JsonObject } from "../json";

/**
 * The record a delivery is about. Clarus's automation conditions address the payload as `data.<field>`,
 * so a body with no id of its own and an object under `data` is an envelope.
 */
export function unwrapRecord(payload: JsonObject): JsonObject {
  if (payload.id === undefined && isPlainObject(payload.data)) return payload.data;
  return payload;
}

/** Ids arrive as integers from REST-style bodies and as strings from GraphQL; both mean the same record. */
export function idOf(value: unknown): string | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "string" && value.trim() !== "") return value.trim();
  return undefined;
}

export function recordId(record: JsonObject): string | undefined {
  return idOf(record.id);
}
