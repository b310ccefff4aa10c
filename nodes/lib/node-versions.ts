import { type TypeMigrations, upgradedForNode, versionSetting } from "./node-red/migrations";

/**
 * Every node type's config version and the steps that upgrade an older definition (node-red/migrations.ts).
 * Every flow saved so far is version 1, so no type has a step yet.
 *
 * To rename or reinterpret a property: raise the type's `current` by one and add the step that leads there,
 * e.g. `{ to: 2, rename: { lookbackMinutes: "overlapMinutes" } }`; keep the old name out of the node's code;
 * add a fixture flow of the old version to test/fixtures/flows/ and a case to test/nodes/compat_spec.js.
 */
export const NODE_MIGRATIONS = {
  "clarus-connection": { current: 1, steps: [] },
  "clarus-webhook-in": { current: 1, steps: [] },
  "clarus-poll": { current: 1, steps: [] },
  "clarus-graphql": { current: 1, steps: [] },
  "clarus-confirm": { current: 1, steps: [] },
  "clarus-sales-order-dispatched": { current: 1, steps: [] },
  "clarus-goods-in-completed": { current: 1, steps: [] },
  "clarus-stock-adjustment": { current: 1, steps: [] },
  "clarus-stock-hold": { current: 1, steps: [] },
  "clarus-event": { current: 1, steps: [] },
  "clarus-alert": { current: 1, steps: [] },
} as const satisfies Record<string, TypeMigrations>;

export type ClarusNodeType = keyof typeof NODE_MIGRATIONS;

/** A node's saved definition at its type's current version (a newer one as it is, with a warning). */
export function upgraded<T extends object>(
  node: { warn(message: string): void },
  type: ClarusNodeType,
  saved: T,
): T & { version: number } {
  return upgradedForNode(node, saved, NODE_MIGRATIONS[type]);
}

/** registerType's settings for `type`: the version the editor gives a new node. */
export function versionSettings(type: ClarusNodeType) {
  return versionSetting(type, NODE_MIGRATIONS[type]);
}
