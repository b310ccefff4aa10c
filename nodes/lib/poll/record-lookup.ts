import type { ClarusClient, GraphqlRequestOptions } from "../api/client";
import { relayPages } from "../api/relay";
import { idOf } from "../events/records";
import type { JsonObject } from "../json";

/** How a stream finds records by a key it read elsewhere (a task's goods-out id, a pending reference). */
export interface RecordLookup {
  /** A list query over the records, declaring `$filter`, `$first` and `$after`. */
  query: string;
  path: readonly string[];
  /** The record field looked up, and how: many at once with `in`, else one at a time with `eq`. */
  key: string;
  operator: "in" | "eq";
  /** Added to the key filter: only records in the state the event needs (e.g. COMPLETED). */
  filter: JsonObject;
}

export interface LookupOptions {
  client: ClarusClient;
  pageSize: number;
  request: GraphqlRequestOptions;
}

/**
 * The records whose key is one of `values` and that match the lookup's filter. Every page is read:
 * an API that caps pages below `first` must not drop records.
 */
export async function lookupRecords(
  lookup: RecordLookup,
  values: readonly string[],
  options: LookupOptions,
): Promise<JsonObject[]> {
  const unique = [...new Set(values)];
  const groups =
    lookup.operator === "in"
      ? chunks(unique, options.pageSize).map((chunk) => ({ in: chunk }))
      : unique.map((v) => ({ eq: v }));
  const found: JsonObject[] = [];
  for (const operand of groups) {
    const pages = relayPages(options.client, {
      query: lookup.query,
      variables: { filter: { ...lookup.filter, [lookup.key]: operand } },
      path: lookup.path,
      pageSize: options.pageSize,
      ...options.request,
    });
    for await (const page of pages) found.push(...page.nodes);
  }
  return found;
}

/** The key of a record as the lookup filters by it. */
export function keyOf(lookup: Pick<RecordLookup, "key">, record: JsonObject): string | undefined {
  return idOf(record[lookup.key]);
}

function chunks<T>(values: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += size) out.push(values.slice(i, i + size));
  return out;
}
