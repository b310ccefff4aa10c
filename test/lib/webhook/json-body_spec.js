// The webhook body parser's nesting bound: deep enough for any real record, refused with its reason beyond; and the
// BOM a body's text loses before the inbox keeps it.
const assert = require("node:assert/strict");

const {
  parseJsonObject,
  stripBom,
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

describe("parseJsonObject: a leading BOM", function () {
  it("should parse a body that starts with a BOM to the value after it", function () {
    const value = { id: 7, note: "\uFEFF inside a string stays" };
    assert.deepEqual(parseJsonObject("\uFEFF" + JSON.stringify(value)), value);
  });
});

describe("stripBom: a body's text as JSON allows it", function () {
  it("should drop a leading BOM and nothing else, so the text parses to the body's value", function () {
    const value = { id: 7, note: "\uFEFF inside a string stays", lines: [{ sku: "A" }] };
    const text = "\uFEFF" + JSON.stringify(value, null, 2);
    const json = stripBom(text);
    assert.equal(json, text.slice(1));
    assert.deepEqual(JSON.parse(json), value);
    assert.deepEqual(JSON.parse(json), parseJsonObject(text));
  });

  it("should give a body without a BOM back as it is", function () {
    const text = JSON.stringify({ id: 1, reference: "SO-1" });
    assert.equal(stripBom(text), text);
  });
});
