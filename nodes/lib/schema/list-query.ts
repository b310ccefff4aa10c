import type { RootList } from "./schema-model";
import { printSelection, type SelectionNode } from "./selection";

/**
 * A query that pages through one root list (`<root> { all(filter:, first:, after:) }`), declaring its
 * variables with the types the schema gives them. `$filter` only when `withFilter`.
 */
export function listQuery(
  operation: string,
  list: RootList,
  nodes: readonly SelectionNode[],
  withFilter = true,
): string {
  const declared: string[] = [];
  const passed: string[] = [];
  for (const name of withFilter ? ["filter", "first", "after"] : ["first", "after"]) {
    const type = list.args.get(name);
    if (!type) continue;
    declared.push(`$${name}: ${type.printed}`);
    passed.push(`${name}: $${name}`);
  }
  const variables = declared.length > 0 ? `(${declared.join(", ")})` : "";
  const args = passed.length > 0 ? `(${passed.join(", ")})` : "";
  return (
    `query ${operation}${variables} { ${list.root} { all${args} { ` +
    `pageInfo { hasNextPage endCursor } edges { node { ${printSelection(nodes)} } } } } }`
  );
}

/** Whether a list can be paged with Relay `first`/`after`, as Clarus documents for every list. */
export function canPage(list: RootList): boolean {
  return list.args.has("first") && list.args.has("after");
}
