/**
 * Config versions: each node definition carries `version`, and an older definition is upgraded step by step when
 * the node starts (and when its dialog opens, by the editor's copy of `applySteps` in resources/clarus-editor.js).
 * Steps are data, not code, so the runtime and the editor apply the very same table, which the runtime serves to
 * the editor. A definition without `version` is version 1: every flow saved before versions existed.
 */

/** One step, from version `to - 1` to `to`. Applied in this order: rename, replace, add, remove. */
export interface MigrationStep {
  readonly to: number;
  /** A property renamed: old name -> new name. The value moves unless the new name is already set. */
  readonly rename?: Readonly<Record<string, string>>;
  /** Values of a property replaced: property -> { old value (as text) -> new value }. */
  readonly replace?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** A property set where it is missing: a new property whose "absent" must not mean its default. */
  readonly add?: Readonly<Record<string, unknown>>;
  /** Properties no longer read. */
  readonly remove?: readonly string[];
}

/** A node type's migrations: the version this package writes, and the steps that lead there from version 1. */
export interface TypeMigrations {
  readonly current: number;
  readonly steps: readonly MigrationStep[];
}

export const FIRST_VERSION = 1;

/** The version a definition was saved with: 1 when it has none (or one that is not a whole number). */
export function savedVersion(def: object): number {
  const version = Number((def as { version?: unknown }).version);
  return Number.isInteger(version) && version >= FIRST_VERSION ? version : FIRST_VERSION;
}

/** The properties after every step above `from`, with `version` set to the last step's (a copy). */
export function applySteps(
  props: Readonly<Record<string, unknown>>,
  steps: readonly MigrationStep[],
  from: number,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...props };
  for (const step of steps) {
    if (step.to <= from) continue;
    for (const [old, renamed] of Object.entries(step.rename ?? {})) {
      if (!(old in out)) continue;
      if (out[renamed] === undefined) out[renamed] = out[old];
      delete out[old];
    }
    for (const [name, values] of Object.entries(step.replace ?? {})) {
      const key = String(out[name]);
      if (out[name] !== undefined && Object.prototype.hasOwnProperty.call(values, key))
        out[name] = values[key];
    }
    for (const [name, value] of Object.entries(step.add ?? {})) {
      if (out[name] === undefined) out[name] = structuredClone(value);
    }
    for (const name of step.remove ?? []) delete out[name];
    out.version = step.to;
  }
  return out;
}

export interface Upgraded<T> {
  def: T & { version: number };
  /** The version it was saved with. */
  from: number;
  /** Saved by a newer version of the package than this one: left as it is. */
  newer: boolean;
}

/** Upgrades a saved definition to the type's current version; a newer one is left alone, for the caller to warn. */
export function upgradeDefinition<T extends object>(def: T, migrations: TypeMigrations): Upgraded<T> {
  const from = savedVersion(def);
  if (from > migrations.current) return { def: { ...def, version: from }, from, newer: true };
  const upgraded = applySteps(def as Record<string, unknown>, migrations.steps, from);
  return { def: { ...(upgraded as T), version: migrations.current }, from, newer: false };
}

/**
 * What a node's constructor calls first: the definition at the current version. A definition from a newer
 * package is run as it is, with a warning, since its settings may mean what this version cannot know.
 */
export function upgradedForNode<T extends object>(
  node: { warn(message: string): void },
  def: T,
  migrations: TypeMigrations,
): T & { version: number } {
  const upgraded = upgradeDefinition(def, migrations);
  if (upgraded.newer) {
    node.warn(
      `saved by a newer version of this package (config version ${upgraded.from}; this one reads up to ` +
        `${migrations.current}): settings it does not know are ignored`,
    );
  }
  return upgraded.def;
}

/**
 * The editor setting that gives a new node of `type` the current version (`clarus-poll` -> `clarusPollVersion`):
 * Node-RED exports a node type's settings whose names start with the type in camel case.
 */
export function versionSettingName(type: string): string {
  return `${type.replace(/-([a-z])/g, (_match, letter: string) => letter.toUpperCase())}Version`;
}

export function versionSetting(type: string, migrations: TypeMigrations) {
  return { [versionSettingName(type)]: { value: migrations.current, exportable: true } };
}
