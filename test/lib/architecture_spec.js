// The layering of nodes/lib, as docs/architecture.md draws it, held against the imports of the source: every import
// from one folder to another points down, and no file reaches itself through its imports. A new import that
// points up fails here, with the file and line to look at.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const LIB = path.join(__dirname, "..", "..", "nodes", "lib");

/** Floors from the bottom; a folder may import only folders on lower floors (and itself). */
const FLOORS = {
  "json.ts": 0,
  "instant.ts": 0,
  "deadline.ts": 0,
  "node-red": 1,
  events: 2,
  api: 2,
  "node-versions.ts": 2,
  store: 3,
  "store/file": 3.5,
  "store/redis": 3.5,
  schema: 3,
  filter: 3,
  metrics: 3,
  delivery: 4,
  automations: 4,
  connection: 5,
  webhook: 6,
  poll: 6,
  alert: 6,
  admin: 7,
};

function sourceFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(file);
    return entry.name.endsWith(".ts") ? [file] : [];
  });
}

/** The room of a file: its folder under lib (store's backends apart), or the file itself at lib's top. */
function roomOf(file) {
  const relative = path.relative(LIB, file).split(path.sep);
  if (relative.length === 1) return relative[0];
  if (relative[0] === "store" && relative.length > 2) return `store/${relative[1]}`;
  return relative[0];
}

/** Every relative import of a file, resolved to a file: `[line, target]`. */
function importsOf(file) {
  const lines = fs.readFileSync(file, "utf8").split("\n");
  const found = [];
  lines.forEach((text, index) => {
    const match =
      /^\s*(?:import|export)\b[^"']*?from\s+["'](\.{1,2}\/[^"']+)["']|^\s*import\s+["'](\.{1,2}\/[^"']+)["']/.exec(
        text,
      );
    const specifier = match?.[1] ?? match?.[2];
    if (specifier) found.push([index + 1, `${path.resolve(path.dirname(file), specifier)}.ts`]);
  });
  return found;
}

describe("the layering of nodes/lib", function () {
  const files = sourceFiles(LIB);
  const graph = new Map(files.map((file) => [file, importsOf(file)]));

  it("should place every file of nodes/lib on a floor", function () {
    assert.deepEqual(
      files.map((file) => roomOf(file)).filter((room) => FLOORS[room] === undefined),
      [],
      "rooms without a floor: add them to FLOORS and to docs/architecture.md",
    );
  });

  it("should import only downwards from one folder to another", function () {
    const upward = [];
    for (const [file, imports] of graph) {
      for (const [line, target] of imports) {
        assert.ok(fs.existsSync(target), `${path.relative(LIB, file)}:${line} imports a missing file`);
        const [from, to] = [roomOf(file), roomOf(target)];
        if (from !== to && !(FLOORS[to] < FLOORS[from])) {
          upward.push(
            `${path.relative(LIB, file)}:${line} (${from}) imports ${path.relative(LIB, target)} (${to})`,
          );
        }
      }
    }
    assert.deepEqual(upward, []);
  });

  it("should have no import cycle", function () {
    const cycles = [];
    const state = new Map();
    const visit = (file, trail) => {
      if (state.get(file) === "done") return;
      if (state.get(file) === "open") {
        cycles.push(
          [...trail.slice(trail.indexOf(file)), file].map((f) => path.relative(LIB, f)).join(" -> "),
        );
        return;
      }
      state.set(file, "open");
      for (const [, target] of graph.get(file) ?? []) visit(target, [...trail, file]);
      state.set(file, "done");
    };
    for (const file of files) visit(file, []);
    assert.deepEqual(cycles, []);
  });
});
