// The webhook body parser's nesting bound: deep enough for any real record, refused with its reason beyond; and a
// body made one line for the inbox.
const assert = require("node:assert/strict");

const {
  asOneLine,
  parseJsonObject,
  MAX_NESTING_DEPTH,
} = require("../../../build/nodes/lib/webhook/json-body.js");

/** An object nested `depth` levels deep, the outermost object counted: `{"a":{"a":…{}}}`. */
const nestedObject = (depth) => `${'{"a":'.repeat(depth - 1)}{}${"}".repeat(depth - 1)}`;

describe("parseJsonObject: nesting depth", function () {
  it(`should take a body nested ${MAX_NESTING_DEPTH} levels deep and refuse one level more, saying why`, function () {
    assert.equal(MAX_NESTING_DEPTH, 64);
    assert.ok(parseJsonObject(nestedObject(MAX_NESTING_DEPTH)).a);
    assert.throws(() => parseJsonObject(nestedObject(MAX_NESTING_DEPTH + 1)), {
      name: "BodyError",
      message: "body is nested deeper than 64 levels",
    });
    assert.throws(() => parseJsonObject(`{"a":${"[".repeat(100_000)}${"]".repeat(100_000)}}`), {
      message: /nested deeper than 64 levels/,
    });
  });

  it("should not count brackets inside strings, escaped quotes included", function () {
    const text = JSON.stringify({
      note: `${"[{".repeat(1000)} \\" "${"[".repeat(1000)}`,
      lines: [[{ sku: "A" }]],
    });
    assert.deepEqual(parseJsonObject(text), JSON.parse(text));
  });
});

describe("asOneLine: a parsed body as one line for the inbox", function () {
  it("should drop the BOM and make line breaks spaces, keeping the value and the escapes in strings", function () {
    const value = { id: 7, note: "two\nlines\r\n", sep: "\u2028", lines: [{ sku: "A" }] };
    const text = "\uFEFF" + JSON.stringify(value, null, 2).replace(/\n/g, "\r\n");
    const line = asOneLine(text);
    assert.doesNotMatch(line, /[\r\n\uFEFF]/);
    assert.deepEqual(JSON.parse(line), value);
    assert.deepEqual(JSON.parse(line), parseJsonObject(text));
  });

  it("should give a compact body back as it is", function () {
    const text = JSON.stringify({ id: 1, reference: "SO-1" });
    assert.equal(asOneLine(text), text);
  });
});
