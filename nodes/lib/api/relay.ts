import type { JsonObject } from "../json";
import { isPlainObject } from "../json";
import type { ClarusClient, GraphqlRequestOptions } from "./client";
import { ClarusApiError } from "./client";

/** A Relay connection (`edges`, `pageInfo`), which Clarus documents as the shape of every list. */
export interface RelayConnection {
  nodes: JsonObject[];
  hasNextPage: boolean;
  endCursor?: string;
}

/**
 * The connection in a GraphQL result: at `path` when given (e.g. ["goods_outs", "all"]), else the first
 * object found with `edges` and `pageInfo`.
 */
export function findConnection(data: unknown, path?: readonly string[]): RelayConnection | undefined {
  const found = path
    ? path.reduce<unknown>((value, key) => (isPlainObject(value) ? value[key] : undefined), data)
    : search(data);
  if (!isPlainObject(found) || !Array.isArray(found.edges) || !isPlainObject(found.pageInfo))
    return undefined;
  const nodes = found.edges
    .map((edge) => (isPlainObject(edge) ? edge.node : undefined))
    .filter(isPlainObject);
  const endCursor = found.pageInfo.endCursor;
  return {
    nodes,
    hasNextPage: found.pageInfo.hasNextPage === true,
    endCursor: typeof endCursor === "string" ? endCursor : undefined,
  };
}

function search(value: unknown): unknown {
  if (!isPlainObject(value)) return undefined;
  if (Array.isArray(value.edges) && isPlainObject(value.pageInfo)) return value;
  for (const child of Object.values(value)) {
    const found = search(child);
    if (found) return found;
  }
  return undefined;
}

export interface PageRequest extends GraphqlRequestOptions {
  query: string;
  variables: JsonObject;
  path?: readonly string[];
  pageSize: number;
  /** Where to start; undefined starts at the first page. */
  after?: string;
}

export interface Page extends RelayConnection {
  /** The cursor this page was asked for with. */
  after?: string;
}

/**
 * Pages through a connection with `first`/`after`, one page in memory at a time; the caller decides
 * when to stop (the page limit), so it can resume from `endCursor` later. A page that says there is more
 * but gives no cursor, or a cursor already given, fails: ending there would lose records silently, and
 * asking again would never end.
 */
export async function* relayPages(client: ClarusClient, request: PageRequest): AsyncGenerator<Page> {
  let after = request.after;
  const cursors = new Set<string>(after === undefined ? [] : [after]);
  for (;;) {
    const data = await client.graphql(
      request.query,
      { ...request.variables, first: request.pageSize, after: after ?? null },
      { signal: request.signal, onRetry: request.onRetry, onServerClock: request.onServerClock },
    );
    const connection = findConnection(data, request.path);
    if (!connection) {
      throw new ClarusApiError("the GraphQL result has no connection (edges and pageInfo) to page through", {
        reason: "graphql",
      });
    }
    yield { ...connection, after };
    if (!connection.hasNextPage) return;
    after = nextCursor(connection, cursors);
  }
}

function nextCursor(connection: RelayConnection, cursors: Set<string>): string {
  const cursor = connection.endCursor;
  if (cursor === undefined || cursor === "") {
    throw new ClarusApiError(
      "the API said there is a next page (hasNextPage) but gave no endCursor to ask for it",
      { reason: "graphql" },
    );
  }
  if (cursors.has(cursor)) {
    throw new ClarusApiError(
      `the API gave the cursor ${JSON.stringify(cursor.slice(0, 40))} a second time, so paging would never end ` +
        "(does the query pass $after to the connection?)",
      { reason: "graphql" },
    );
  }
  cursors.add(cursor);
  return cursor;
}
