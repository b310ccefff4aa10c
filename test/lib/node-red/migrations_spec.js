// Config versions: the runtime's runner, the editor's copy of it (resources/clarus-editor.js) and the table of
// every node type. The steps here are made up: no type has one yet, and the runner must work before the first.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const {
  applySteps,
  savedVersion,
  upgradeDefinition,
  upgradedForNode,
  versionSettingName,
} = require("../../../build/nodes/lib/node-red/migrations.js");
const { NODE_MIGRATIONS } = require("../../../build/nodes/lib/node-versions.js");

const ROOT = path.join(__dirname, "..", "..", "..");

/** The editor's ClarusEditor, loaded as the browser loads it, without jQuery (it then asks the runtime nothing). */
function editorHelpers() {
  const window = {};
  vm.runInNewContext(fs.readFileSync(path.join(ROOT, "resources", "clarus-editor.js"), "utf8"), { window });
  return window.ClarusEditor;
}

const STEPS = [
  { to: 2, rename: { lookbackMinutes: "overlapMinutes" }, add: { mode: "strict" } },
  { to: 3, replace: { stream: { "goods_out.completed": "dispatches", 7: 8 } }, remove: ["legacy"] },
  { to: 4, add: { list: ["a"] }, rename: { absent: "stillAbsent" } },
];
const TABLE = { current: 4, steps: STEPS };

const CASES = [
  {
    what: "a definition without a version (every flow saved before versions): every step",
    saved: { id: "n1", stream: "goods_out.completed", lookbackMinutes: 10, legacy: true },
    expected: {
      id: "n1",
      stream: "dispatches",
      overlapMinutes: 10,
      mode: "strict",
      list: ["a"],
      version: 4,
    },
  },
  {
    what: "a version-2 definition: only the steps above 2",
    saved: { id: "n2", version: 2, stream: 7, lookbackMinutes: 5, overlapMinutes: 3, mode: "loose" },
    expected: {
      id: "n2",
      version: 4,
      stream: 8,
      lookbackMinutes: 5,
      overlapMinutes: 3,
      mode: "loose",
      list: ["a"],
    },
  },
  {
    what: "a rename onto a property already set keeps the set one",
    saved: { id: "n3", lookbackMinutes: 10, overlapMinutes: 2 },
    expected: { id: "n3", overlapMinutes: 2, mode: "strict", list: ["a"], version: 4 },
  },
  {
    what: "a current definition: unchanged",
    saved: { id: "n4", version: 4, stream: "goods_out.completed", legacy: 1 },
    expected: { id: "n4", version: 4, stream: "goods_out.completed", legacy: 1 },
  },
];

describe("config versions", function () {
  describe("the runtime's runner", function () {
    for (const { what, saved, expected } of CASES) {
      it(`should upgrade ${what}`, function () {
        const before = structuredClone(saved);
        const { def, from, newer } = upgradeDefinition(saved, TABLE);
        assert.deepEqual(def, expected);
        assert.equal(from, savedVersion(saved));
        assert.equal(newer, false);
        assert.deepEqual(saved, before, "the saved definition is not changed in place");
      });
    }

    it("should read a missing, empty or broken version as 1", function () {
      for (const version of [undefined, "", "x", 0, -3, 1.5, null])
        assert.equal(savedVersion({ version }), 1);
      assert.equal(savedVersion({ version: "3" }), 3);
    });

    it("should leave a definition of a newer package alone and warn once, naming both versions", function () {
      const warnings = [];
      const def = upgradedForNode({ warn: (m) => warnings.push(m) }, { id: "n5", version: 9, x: 1 }, TABLE);
      assert.deepEqual(def, { id: "n5", version: 9, x: 1 });
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /newer version of this package \(config version 9; this one reads up to 4\)/);
    });

    it("should name the editor setting as Node-RED requires: the type in camel case, then Version", function () {
      assert.equal(versionSettingName("clarus-poll"), "clarusPollVersion");
      assert.equal(versionSettingName("clarus-sales-order-dispatched"), "clarusSalesOrderDispatchedVersion");
    });
  });

  describe("the editor's copy (resources/clarus-editor.js)", function () {
    const editor = editorHelpers();
    for (const { what, saved } of CASES) {
      it(`should give what the runtime gives for ${what}`, function () {
        const from = savedVersion(saved);
        assert.equal(editor.savedVersion(saved), from);
        assert.deepEqual(
          JSON.parse(JSON.stringify(editor.applySteps(saved, STEPS, from))),
          applySteps(saved, STEPS, from),
        );
      });
    }
  });

  describe("the table of every node type", function () {
    const manifest = require(path.join(ROOT, "package.json"));
    const types = Object.keys(manifest["node-red"].nodes);

    it("should have an entry for every node type the package registers, and no other", function () {
      assert.deepEqual(Object.keys(NODE_MIGRATIONS).sort(), [...types].sort());
    });

    it("should lead each type from version 1 to its current one in steps of one", function () {
      for (const [type, { current, steps }] of Object.entries(NODE_MIGRATIONS)) {
        assert.deepEqual(
          steps.map((step) => step.to),
          Array.from({ length: current - 1 }, (_, i) => i + 2),
          type,
        );
      }
    });

    it("should give a new node in the editor the current version and upgrade an old one when its dialog opens", function () {
      for (const type of types) {
        const html = fs.readFileSync(path.join(ROOT, "nodes", `${type}.html`), "utf8");
        assert.match(
          html,
          new RegExp(`version: \\{ value: RED\\.settings\\.${versionSettingName(type)} \\|\\| 1 \\}`),
          type,
        );
        assert.match(html, /oneditprepare: function \(\) \{\n\s+ClarusEditor\.migrate\(this\);/, type);
      }
    });
  });
});
