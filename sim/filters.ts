import { GraphQLError } from "graphql";

/**
 * Clarus filter operators, as Clarus documents them per field kind. One spec per resource drives both the
 * SDL input type and the matching, so a filter the schema accepts is always one the simulator applies.
 */
export type FilterKind = "string" | "integer" | "decimal" | "datetime" | "boolean" | "id";

export type FieldValue = string | number | boolean | null;

export interface FieldSpec<T> {
  kind: FilterKind;
  get: (row: T) => FieldValue;
}

export type FilterSpec<T> = Readonly<Record<string, FieldSpec<T>>>;

/** GraphQL input type per kind; names are ours, Clarus does not publish them. */
export const OPERATOR_TYPE_NAME: Readonly<Record<FilterKind, string>> = {
  string: "StringOperatorType",
  integer: "IntegerOperatorType",
  decimal: "DecimalOperatorType",
  datetime: "DatetimeOperatorType",
  boolean: "BooleanOperatorType",
  id: "IdOperatorType",
};

export const OPERATOR_TYPES_SDL = `
"String operators. like/ilike take SQL patterns (% any run, _ one character); between is inclusive."
input StringOperatorType { eq: String, ilike: String, like: String, in: [String!], between: [String!] }
"Integer operators; between is [low, high], inclusive."
input IntegerOperatorType { eq: Int, gt: Int, gteq: Int, lt: Int, lteq: Int, between: [Int!] }
"Decimal operators; between is [low, high], inclusive."
input DecimalOperatorType { eq: Float, gt: Float, gteq: Float, lt: Float, lteq: Float, between: [Float!] }
"ISO-8601 datetimes. from and to are inclusive; between is [from, to]."
input DatetimeOperatorType { eq: String, from: String, to: String, between: [String!] }
input BooleanOperatorType { eq: Boolean }
"Id operators; filled: true matches a set reference, false an empty one."
input IdOperatorType { eq: ID, gt: ID, gteq: ID, lt: ID, lteq: ID, in: [ID!], filled: Boolean }
`;

type Test = (value: FieldValue) => boolean;

/** Compiles a GraphQL `filter` argument into a row predicate; bad operands become GraphQL errors. */
export function compileFilter<T>(spec: FilterSpec<T>, filter: unknown): (row: T) => boolean {
  if (filter === undefined || filter === null) return () => true;
  const tests: Array<(row: T) => boolean> = [];
  for (const [field, operators] of Object.entries(filter as Record<string, unknown>)) {
    if (operators === undefined || operators === null) continue;
    const fieldSpec = spec[field];
    if (!fieldSpec) throw new GraphQLError(`Unknown filter field "${field}"`);
    for (const [operator, operand] of Object.entries(operators as Record<string, unknown>)) {
      // An explicit null operand means "not given", as graphql-ruby filters treat it.
      if (operand === undefined || operand === null) continue;
      const test = operatorTest(fieldSpec.kind, field, operator, operand);
      tests.push((row) => test(fieldSpec.get(row)));
    }
  }
  return (row) => tests.every((test) => test(row));
}

function operatorTest(kind: FilterKind, field: string, operator: string, operand: unknown): Test {
  const where = `${field}.${operator}`;
  switch (kind) {
    case "string":
      return stringTest(where, operator, operand);
    case "integer":
    case "decimal":
      return orderedTest(where, operator, operand, numberOperand, asNumber);
    case "datetime":
      return datetimeTest(where, operator, operand);
    case "boolean":
      return (value) => value === operand;
    case "id":
      if (operator === "filled") return (value) => (value !== null) === operand;
      return orderedTest(where, operator, operand, idOperand, asNumber);
  }
}

function stringTest(where: string, operator: string, operand: unknown): Test {
  const text = (value: FieldValue): string | undefined => (typeof value === "string" ? value : undefined);
  switch (operator) {
    case "eq":
      return (value) => text(value) === operand;
    case "like":
    case "ilike": {
      const pattern = likePattern(String(operand), operator === "ilike");
      return (value) => {
        const s = text(value);
        return s !== undefined && pattern.test(s);
      };
    }
    case "in": {
      const set = new Set(operand as string[]);
      return (value) => set.has(text(value) ?? "\u0000");
    }
    case "between": {
      const [low, high] = pair(where, operand as string[]);
      return (value) => {
        const s = text(value);
        return s !== undefined && s >= low && s <= high;
      };
    }
    default:
      throw new GraphQLError(`Unsupported operator "${where}"`);
  }
}

/** SQL LIKE: `%` any run, `_` one character, backslash escapes either; the whole value must match. */
function likePattern(pattern: string, caseInsensitive: boolean): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === "\\" && i + 1 < pattern.length) source += escapeRegExp(pattern[++i] as string);
    else if (ch === "%") source += "[\\s\\S]*";
    else if (ch === "_") source += "[\\s\\S]";
    else source += escapeRegExp(ch);
  }
  return new RegExp(`^${source}$`, caseInsensitive ? "i" : "");
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** eq/gt/gteq/lt/lteq/in/between over numbers (quantities, ids). */
function orderedTest(
  where: string,
  operator: string,
  operand: unknown,
  parse: (where: string, raw: unknown) => number,
  read: (value: FieldValue) => number | undefined,
): Test {
  const compare = (check: (v: number) => boolean): Test => {
    return (value) => {
      const v = read(value);
      return v !== undefined && check(v);
    };
  };
  switch (operator) {
    case "eq": {
      const n = parse(where, operand);
      return compare((v) => v === n);
    }
    case "gt": {
      const n = parse(where, operand);
      return compare((v) => v > n);
    }
    case "gteq": {
      const n = parse(where, operand);
      return compare((v) => v >= n);
    }
    case "lt": {
      const n = parse(where, operand);
      return compare((v) => v < n);
    }
    case "lteq": {
      const n = parse(where, operand);
      return compare((v) => v <= n);
    }
    case "in": {
      const set = new Set((operand as unknown[]).map((raw) => parse(where, raw)));
      return compare((v) => set.has(v));
    }
    case "between": {
      const [low, high] = pair(
        where,
        (operand as unknown[]).map((raw) => parse(where, raw)),
      );
      return compare((v) => v >= low && v <= high);
    }
    default:
      throw new GraphQLError(`Unsupported operator "${where}"`);
  }
}

function datetimeTest(where: string, operator: string, operand: unknown): Test {
  const at = (value: FieldValue): number | undefined => {
    if (typeof value !== "string") return undefined;
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : ms;
  };
  const compare = (check: (v: number) => boolean): Test => {
    return (value) => {
      const v = at(value);
      return v !== undefined && check(v);
    };
  };
  switch (operator) {
    case "eq": {
      const ms = datetimeOperand(where, operand);
      return compare((v) => v === ms);
    }
    case "from": {
      const ms = datetimeOperand(where, operand);
      return compare((v) => v >= ms);
    }
    case "to": {
      const ms = datetimeOperand(where, operand);
      return compare((v) => v <= ms);
    }
    case "between": {
      const [low, high] = pair(
        where,
        (operand as unknown[]).map((raw) => datetimeOperand(where, raw)),
      );
      return compare((v) => v >= low && v <= high);
    }
    default:
      throw new GraphQLError(`Unsupported operator "${where}"`);
  }
}

const ISO_DATETIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** A datetime without an offset is read as UTC, never as the simulator host's local time. */
function datetimeOperand(where: string, raw: unknown): number {
  const text = typeof raw === "string" ? raw.trim() : "";
  const utc = /[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?$/.test(text) ? `${text}Z` : text;
  const ms = ISO_DATETIME.test(text) ? Date.parse(utc.replace(" ", "T")) : NaN;
  if (Number.isNaN(ms)) throw new GraphQLError(`${where}: "${String(raw)}" is not an ISO-8601 datetime`);
  return ms;
}

function numberOperand(where: string, raw: unknown): number {
  if (typeof raw !== "number" || !Number.isFinite(raw)) throw new GraphQLError(`${where}: not a number`);
  return raw;
}

function idOperand(where: string, raw: unknown): number {
  const text = typeof raw === "number" ? String(raw) : typeof raw === "string" ? raw.trim() : "";
  if (!/^\d{1,15}$/.test(text)) throw new GraphQLError(`${where}: "${String(raw)}" is not a valid id`);
  return Number(text);
}

function asNumber(value: FieldValue): number | undefined {
  return typeof value === "number" ? value : undefined;
}

function pair<V>(where: string, values: V[]): [V, V] {
  if (values.length !== 2) throw new GraphQLError(`${where}: between takes exactly two values`);
  return [values[0] as V, values[1] as V];
}
