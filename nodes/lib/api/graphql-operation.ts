export type OperationType = "query" | "mutation" | "subscription";

interface Operation {
  type: OperationType;
  name?: string;
}

const OPERATION_TYPES: ReadonlySet<string> = new Set(["query", "mutation", "subscription"]);
const NAME_START = /[_A-Za-z]/;
const NAME_CHAR = /[_0-9A-Za-z]/;
const IGNORED = /[\s,\uFEFF]/;

/**
 * The type of the operation a GraphQL document runs: the one named `operationName`, else its only
 * operation. Undefined when that cannot be told (no such operation, several and no name, a document
 * that does not scan), so a caller treats the unknown as unsafe to repeat. A small scanner, not a parser
 * (`graphql` is not a runtime dependency): it skips comments, strings and block strings and reads the
 * keyword and name that open each top-level definition.
 */
export function operationType(document: string, operationName?: string): OperationType | undefined {
  const operations = topLevelOperations(document);
  if (!operations) return undefined;
  if (operationName) return operations.find((operation) => operation.name === operationName)?.type;
  return operations.length === 1 ? operations[0]?.type : undefined;
}

function topLevelOperations(document: string): Operation[] | undefined {
  const operations: Operation[] = [];
  let depth = 0;
  // At depth 0: "start" expects a definition, "name" its name, "body" anything up to its selection set.
  let expect: "start" | "name" | "body" = "start";
  let current: Operation | undefined;
  let i = 0;
  while (i < document.length) {
    const char = document[i] as string;
    if (char === "#") {
      while (i < document.length && document[i] !== "\n" && document[i] !== "\r") i++;
      continue;
    }
    if (char === '"') {
      const end = document.startsWith('"""', i)
        ? blockStringEnd(document, i + 3)
        : stringEnd(document, i + 1);
      if (end === undefined) return undefined;
      i = end;
      if (depth === 0 && expect === "name") expect = "body";
      continue;
    }
    if (NAME_START.test(char)) {
      let end = i + 1;
      while (end < document.length && NAME_CHAR.test(document[end] as string)) end++;
      const word = document.slice(i, end);
      i = end;
      if (depth > 0) continue;
      if (expect === "start") {
        current = OPERATION_TYPES.has(word) ? { type: word as OperationType } : undefined;
        if (current) operations.push(current);
        expect = "name";
      } else if (expect === "name") {
        if (current) current.name = word;
        expect = "body";
      }
      continue;
    }
    if (char === "{" || char === "(" || char === "[") {
      // `{` where a definition starts is the query shorthand: an anonymous query.
      if (depth === 0 && char === "{" && expect === "start") operations.push({ type: "query" });
      if (depth === 0) expect = "body";
      depth++;
    } else if (char === "}" || char === ")" || char === "]") {
      depth--;
      if (depth < 0) return undefined;
      // The end of a top-level selection set ends the definition.
      if (depth === 0 && char === "}") expect = "start";
    } else if (depth === 0 && expect === "name" && !IGNORED.test(char)) {
      expect = "body";
    }
    i++;
  }
  return depth === 0 ? operations : undefined;
}

/** Index after the closing quote of a string whose body starts at `i`; undefined when unterminated. */
function stringEnd(document: string, i: number): number | undefined {
  while (i < document.length) {
    const char = document[i];
    if (char === "\\") i += 2;
    else if (char === '"') return i + 1;
    else if (char === "\n" || char === "\r") return undefined;
    else i++;
  }
  return undefined;
}

/** Index after the closing `"""` of a block string whose body starts at `i`; `\"""` does not close it. */
function blockStringEnd(document: string, i: number): number | undefined {
  while (i < document.length) {
    if (document.startsWith('\\"""', i)) i += 4;
    else if (document.startsWith('"""', i)) return i + 3;
    else i++;
  }
  return undefined;
}
