import type { JsonObject } from "../json";
import { isPlainObject } from "../json";
import { ConfigError } from "../node-red/errors";
import type { ClarusClient } from "./client";
import { relayPages } from "./relay";

export interface GraphqlNodeSettings {
  query: string;
  allPages: boolean;
  maxPages: number;
  pageSize: number;
}

/** Variables from `msg.variables`, else from `msg.payload` when it is an object, else none. */
export function variablesOf(msg: { variables?: unknown; payload?: unknown }): JsonObject {
  if (isPlainObject(msg.variables)) return msg.variables;
  if (isPlainObject(msg.payload)) return msg.payload;
  return {};
}

/** `msg.operationName`: which operation of a document with several to run. */
export function operationNameOf(msg: { operationName?: unknown }): string | undefined {
  return typeof msg.operationName === "string" && msg.operationName.trim() !== ""
    ? msg.operationName.trim()
    : undefined;
}

/** The query to run: the node's own, else `msg.query`. */
export function queryOf(settings: GraphqlNodeSettings, msg: { query?: unknown }): string {
  const query = settings.query.trim() || (typeof msg.query === "string" ? msg.query.trim() : "");
  if (!query) throw new ConfigError("no query: set one on the node or in msg.query");
  return query;
}

/**
 * One clarus-graphql request. With `allPages` the query's connection is followed through `pageInfo`
 * (the query declares `$first` and `$after`) and the result is the nodes of every page, up to `maxPages`.
 */
export async function runGraphql(
  client: ClarusClient,
  settings: GraphqlNodeSettings,
  query: string,
  variables: JsonObject,
  signal: AbortSignal,
  operationName?: string,
): Promise<unknown> {
  if (!settings.allPages) return client.graphql(query, variables, { signal, operationName });
  const pageSize = Number(variables.first) > 0 ? Number(variables.first) : settings.pageSize;
  const nodes: JsonObject[] = [];
  let pages = 0;
  for await (const page of relayPages(client, { query, variables, pageSize, after: undefined, signal })) {
    nodes.push(...page.nodes);
    if (++pages >= settings.maxPages) break;
  }
  return nodes;
}
