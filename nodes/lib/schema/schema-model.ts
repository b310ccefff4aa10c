import { isPlainObject, type JsonObject } from "../json";
import type { SelectionNode } from "./selection";

/**
 * What the planners need to know of a tenant's GraphQL schema: the fields of each object type, the
 * fields of each input type, and for each root list (`<root> { all(filter:, first:, after:) }`) its
 * node type and filter type. Built from an introspection result, or from what Clarus documents.
 */
export interface TypeRef {
  /** The named type under any list and non-null wrappers. */
  name: string;
  kind: string;
  /** As written in a query's variable definitions, e.g. `GoodsOutsFilterType` or `[ID!]!`. */
  printed: string;
}

export interface ObjectField {
  type: TypeRef;
  args: ReadonlyMap<string, TypeRef>;
}

export interface SchemaModel {
  /** "introspection", or "documented" when introspection was refused and only what Clarus documents is known. */
  source: "introspection" | "documented";
  queryType: string;
  objects: TypeTable<ReadonlyMap<string, ObjectField>>;
  inputs: TypeTable<ReadonlyMap<string, TypeRef>>;
}

/** Types by name; a Map is one. */
export interface TypeTable<T> {
  get(name: string): T | undefined;
  has(name: string): boolean;
}

export interface RootList {
  root: string;
  nodeType: string;
  /** The `all` arguments: `filter`, `first`, `after` and any others. */
  args: ReadonlyMap<string, TypeRef>;
  filterType?: string;
}

/** An introspection answer that cannot be read as a schema. */
export class SchemaShapeError extends Error {
  override name = "SchemaShapeError";
}

const OBJECT_KINDS = new Set(["OBJECT", "INTERFACE"]);
const MAX_TYPE_DEPTH = 8;

/**
 * Reads `data` of the introspection query (schema.ts). Anything that is not a schema fails with a
 * SchemaShapeError; types and fields without a usable name are skipped, so one odd entry does not cost
 * the rest. Only the types are indexed here; a type's fields are read the first time a planner asks,
 * so a schema of 10,000 types costs one pass over their names, not over every field.
 */
export function modelFromIntrospection(data: unknown): SchemaModel {
  const schema = isPlainObject(data) ? data.__schema : undefined;
  if (!isPlainObject(schema)) throw new SchemaShapeError("the answer has no __schema");
  if (!Array.isArray(schema.types)) throw new SchemaShapeError("__schema has no list of types");
  const queryType = isPlainObject(schema.queryType) ? schema.queryType.name : undefined;
  if (typeof queryType !== "string") throw new SchemaShapeError("__schema names no query type");
  const objects = new LazyTypes((type) => objectFields(type.fields));
  const inputs = new LazyTypes((type) => inputFields(type.inputFields));
  for (const type of schema.types) {
    if (!isPlainObject(type) || typeof type.name !== "string") continue;
    if (OBJECT_KINDS.has(String(type.kind))) objects.add(type.name, type);
    else if (type.kind === "INPUT_OBJECT") inputs.add(type.name, type);
  }
  if (!objects.has(queryType))
    throw new SchemaShapeError(`the query type ${queryType} is not among the types`);
  return { source: "introspection", queryType, objects, inputs };
}

/** Introspected types by name, each read into fields once, when first asked for. */
class LazyTypes<T> implements TypeTable<T> {
  private readonly raw = new Map<string, JsonObject>();
  private readonly read = new Map<string, T>();

  constructor(private readonly fieldsOf: (type: JsonObject) => T) {}

  add(name: string, type: JsonObject): void {
    this.raw.set(name, type);
  }

  has(name: string): boolean {
    return this.raw.has(name);
  }

  get(name: string): T | undefined {
    const known = this.read.get(name);
    if (known !== undefined) return known;
    const type = this.raw.get(name);
    if (!type) return undefined;
    const fields = this.fieldsOf(type);
    this.read.set(name, fields);
    return fields;
  }
}

const NO_ARGS: ReadonlyMap<string, TypeRef> = new Map();

function objectFields(fields: unknown): Map<string, ObjectField> {
  return namedFields(fields, (field, type) => {
    const args = Array.isArray(field.args) && field.args.length > 0 ? inputFields(field.args) : NO_ARGS;
    return { type, args };
  });
}

function inputFields(fields: unknown): Map<string, TypeRef> {
  return namedFields(fields, (_field, type) => type);
}

/** The entries of an introspected field list that have a name and a readable type. */
function namedFields<T>(fields: unknown, read: (field: JsonObject, type: TypeRef) => T): Map<string, T> {
  const out = new Map<string, T>();
  if (!Array.isArray(fields)) return out;
  for (const field of fields) {
    if (!isPlainObject(field) || typeof field.name !== "string") continue;
    const type = typeRef(field.type);
    if (type) out.set(field.name, read(field, type));
  }
  return out;
}

function typeRef(value: unknown, depth = 0): TypeRef | undefined {
  if (!isPlainObject(value) || depth > MAX_TYPE_DEPTH) return undefined;
  if (value.kind === "NON_NULL" || value.kind === "LIST") {
    const inner = typeRef(value.ofType, depth + 1);
    if (!inner) return undefined;
    const printed = value.kind === "NON_NULL" ? `${inner.printed}!` : `[${inner.printed}]`;
    return { ...inner, printed };
  }
  if (typeof value.name !== "string" || typeof value.kind !== "string") return undefined;
  return { name: value.name, kind: value.kind, printed: value.name };
}

/** A root list `<root> { all(...) { edges { node } pageInfo } }`, or undefined when the schema lacks it. */
export function rootList(model: SchemaModel, root: string): RootList | undefined {
  const rootType = model.objects.get(model.queryType)?.get(root)?.type;
  const all = rootType && model.objects.get(rootType.name)?.get("all");
  const connection = all && model.objects.get(all.type.name);
  const edge = connection?.get("edges")?.type;
  const node = edge && model.objects.get(edge.name)?.get("node")?.type;
  if (!all || !connection?.has("pageInfo") || !node || !model.objects.has(node.name)) return undefined;
  const filter = all.args.get("filter");
  return { root, nodeType: node.name, args: all.args, filterType: filter?.name };
}

/** The operators a filter field takes (`eq`, `in`, `from`, …), empty when the filter lacks the field. */
export function filterOperators(model: SchemaModel, list: RootList, field: string): ReadonlySet<string> {
  const type = list.filterType && model.inputs.get(list.filterType)?.get(field);
  const operators = type && model.inputs.get(type.name);
  return new Set(operators ? operators.keys() : []);
}

export interface FittedSelection {
  nodes: SelectionNode[];
  /** Wanted fields the type lacks, as dotted paths (`goods_out_status.id`). */
  missing: string[];
}

/**
 * The part of `wanted` that `typeName` has: scalars where the schema has a scalar, objects where it has
 * an object with at least one wanted subfield. Everything else is listed as missing, except what an
 * alternative (`or`) the schema has fully makes up for.
 */
export function fitSelection(
  model: SchemaModel,
  typeName: string,
  wanted: readonly SelectionNode[],
  prefix = "",
): FittedSelection {
  const nodes: SelectionNode[] = [];
  const missing: string[] = [];
  for (const want of wanted) {
    const fitted = [want, ...(want.or ?? [])].map((option) => fitField(model, typeName, option, prefix));
    for (const option of fitted) if (option.node) nodes.push(option.node);
    if (fitted.some((option) => option.node && option.missing.length === 0)) continue;
    missing.push(...(fitted.find((option) => option.node) ?? fitted[0] ?? { missing: [] }).missing);
  }
  return { nodes, missing };
}

function fitField(
  model: SchemaModel,
  typeName: string,
  want: SelectionNode,
  prefix: string,
): { node?: SelectionNode; missing: string[] } {
  const field = model.objects.get(typeName)?.get(want.name);
  const objectType = field && model.objects.has(field.type.name) ? field.type.name : undefined;
  if (!field || Boolean(want.children) !== Boolean(objectType)) return { missing: [prefix + want.name] };
  if (!want.children || !objectType) return { node: { name: want.name }, missing: [] };
  const inner = fitSelection(model, objectType, want.children, `${prefix}${want.name}.`);
  return {
    node: inner.nodes.length > 0 ? { name: want.name, children: inner.nodes } : undefined,
    missing: inner.missing,
  };
}
