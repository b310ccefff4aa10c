import { createHash } from "node:crypto";

import { canonicalIsoInstant } from "../instant";
import type { JsonObject } from "../json";
import { idOf, recordId } from "./records";
import { occursOncePerRecord, UNKNOWN_EVENT } from "./vocabulary";

/**
 * The business key of an event: the same whether the event came by webhook or by poll, so the two paths
 * deduplicate against each other. Undefined when the record carries no usable key.
 */
export function businessKey(event: string, record: JsonObject): string | undefined {
  if (event === UNKNOWN_EVENT) return undefined;
  const id = recordId(record);
  if (id === undefined) return undefined;
  if (occursOncePerRecord(event)) return `${event}:${id}`;
  // Events that can fire again for the same record need a version to tell the occurrences apart. A
  // timestamp version is keyed by its instant: webhook and poll may spell it with different offsets.
  const version =
    canonicalIsoInstant(record.updated_at) ?? idOf(record.updated_at) ?? idOf(record.transaction_id);
  return version === undefined ? undefined : `${event}:${id}@${version}`;
}

/** Where a delivery came from, for the keys of records that carry no business key. */
export interface DeliveryOrigin {
  /** `X-ClarusWMS-Automation-ID` of a webhook; undefined for a poll. */
  automationId?: string;
  /** Unique to this one delivery (its message id). */
  deliveryId: string;
}

/**
 * Last resort when no business key exists: byte-identical retries of one automation still collapse, while
 * equal bodies of different events or automations (two schedule triggers, `updated` and `processed` of one
 * id-less body) stay apart.
 */
export function contentKey(event: string, automationId: string | undefined, bytes: Buffer | string): string {
  const hash = createHash("sha256")
    .update(`${event}\n${automationId ?? ""}\n`)
    .update(bytes);
  return `sha256:${hash.digest("hex")}`;
}

/**
 * The dedupe key of a delivery. One that carries no record at all (a GET without a query, a `{}` body) has
 * nothing to tell two occurrences apart, so it gets a key of its own and is never answered as a duplicate:
 * a repeat let through is better than an event swallowed.
 */
export function dedupeKeyFor(
  event: string,
  record: JsonObject,
  bytes: Buffer | string,
  origin: DeliveryOrigin,
): string {
  const business = businessKey(event, record);
  if (business !== undefined) return business;
  if (Object.keys(record).length === 0) return `delivery:${origin.deliveryId}`;
  return contentKey(event, origin.automationId, bytes);
}
