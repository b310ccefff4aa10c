const assert = require("node:assert/strict");

const { operationType } = require("../../../build/nodes/lib/api/graphql-operation.js");

describe("operationType (which GraphQL operations may be retried)", function () {
  const cases = [
    ["a named query", "query Stocks { stocks { id } }", undefined, "query"],
    ["the query shorthand", "{ stocks { id } }", undefined, "query"],
    ["a mutation", "mutation Hold($ids: [ID!]) { hold(ids: $ids) { id } }", undefined, "mutation"],
    ["an anonymous mutation with variables", "mutation ($a: Int = 1) { x(a: $a) }", undefined, "mutation"],
    ["a subscription", "subscription { changed { id } }", undefined, "subscription"],
    ["a comment that says mutation", "# mutation Hold { hold }\nquery Q { a }", undefined, "query"],
    ["a string that says mutation", 'query Q { a(note: "} mutation M { b }") }', undefined, "query"],
    [
      "a block string that says mutation",
      'query Q { a(note: """\n} mutation M {\n\\""" b""") }',
      undefined,
      "query",
    ],
    ["a default object value with braces", "query Q($f: F = {a: {b: 1}}) { a(f: $f) }", undefined, "query"],
    [
      "a fragment before the operation",
      "fragment F on Stock { id }\nmutation M { hold { ...F } }",
      undefined,
      "mutation",
    ],
    ["a directive on the operation", "mutation M @live { hold }", undefined, "mutation"],
    ["a byte order mark and commas", "\uFEFF,, query Q { a }", undefined, "query"],
    ["several operations, the query named", "query A { a }\nmutation B { b }", "A", "query"],
    ["several operations, the mutation named", "query A { a }\nmutation B { b }", "B", "mutation"],
    ["several operations and no name", "query A { a }\nmutation B { b }", undefined, undefined],
    ["an operation name that is not there", "query A { a }", "B", undefined],
    ["an unterminated string", 'query Q { a(note: "open) }', undefined, undefined],
    ["unbalanced braces", "query Q { a { b }", undefined, undefined],
    ["an empty document", "", undefined, undefined],
  ];
  for (const [what, document, operationName, expected] of cases) {
    it(`should read ${what} as ${expected ?? "unknown"}`, function () {
      assert.equal(operationType(document, operationName), expected);
    });
  }
});
