import { createHash } from "node:crypto";

import { occursOncePerRecord, UNKNOWN_EVENT } from "./vocabulary";
import { idOf, recordId } from "./records";
import type { JsonObject } from "../json";

/**
 * The business key of an event: the same whether the event came by webhook or by poll, so the two paths
 * deduplicate against each other (DESIGN.md "Dedupe"). Undefined when the record carries no usable key.
 */
export function businessKey(event: string, record: JsonObject): string | undefined {
  if (event === UNKNOWN_EVENT) return undefined;
  const id = recordId(record);
  if (id === undefined) return undefined;
  if (occursOncePerRecord(event)) return `${event}:${id}`;
  // Events that can fire again for the same record need a version to tell the occurrences apart.
  const version = idOf(record.updated_at) ?? idOf(record.transaction_id);
  return version === undefined ? undefined : `${event}:${id}@${version}`;
}

/** Last resort when no business key exists: byte-identical retries still collapse. */
export function contentKey(bytes: Buffer | string): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export function dedupeKeyFor(event: string, record: JsonObject, bytes: Buffer | string): string {
  return businessKey(event, record) ?? contentKey(bytes);
}
