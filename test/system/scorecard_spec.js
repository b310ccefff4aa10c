// scripts/scorecard.js: the flow library's offline checks pass on this package as it ships, and each of them
// fails on a fixture package built to break it.
const assert = require("node:assert/strict");
const { execFile } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const { REPO_ROOT, makeTempDir, removeDir } = require("../helpers/red-process");
const { scorecard, readNodeDefinitions, CHECKS } = require("../../scripts/scorecard");

const SCRIPT = path.join(REPO_ROOT, "scripts", "scorecard.js");

function write(dir, file, content) {
  const full = path.join(dir, file);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, typeof content === "string" ? content : JSON.stringify(content, null, 2));
}

const editorHtml = (...types) =>
  types
    .map(
      ([type, category]) => `<script type="text/javascript">
  RED.nodes.registerType("${type}", {
    category: "${category}",
    defaults: { name: { value: "" } },
    inputs: 1,
    outputs: 1,
  });
</script>
<script type="text/html" data-template-name="${type}"><input id="node-input-name" /></script>`,
    )
    .join("\n");

/**
 * A small node package: node sets `fixture` (types fixture-in, fixture-out) and `fixture-config` (a config
 * node), built to build/, an example, a lock file. `change(pkg, lock)` edits package.json and the lock.
 */
function writeFixture(dir, { change = () => {}, exampleTypes = ["fixture-in", "fixture-out"] } = {}) {
  const pkg = {
    name: "@fixture/node-red-fixture",
    version: "1.0.0",
    description: "A fixture for the scorecard test",
    license: "MIT",
    keywords: ["node-red"],
    repository: { type: "git", url: "https://example.com/fixture.git" },
    engines: { node: ">=18" },
    files: ["build/", "examples/"],
    "node-red": {
      version: ">=3.0.0",
      nodes: { fixture: "build/fixture.js", "fixture-config": "build/fixture-config.js" },
    },
    dependencies: { "dep-a": "^1.0.0" },
  };
  const lock = {
    name: pkg.name,
    version: pkg.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      "": { name: pkg.name, version: pkg.version, dependencies: pkg.dependencies },
      "node_modules/dep-a": { version: "1.4.0" },
      "node_modules/dev-only": { version: "0.1.0", dev: true },
    },
  };
  change(pkg, lock);
  write(dir, "package.json", pkg);
  write(dir, "package-lock.json", lock);
  write(dir, "build/fixture.js", "module.exports = function () {};\n");
  write(dir, "build/fixture.html", editorHtml(["fixture-in", "function"], ["fixture-out", "function"]));
  write(dir, "build/fixture-config.js", "module.exports = function () {};\n");
  write(dir, "build/fixture-config.html", editorHtml(["fixture-config", "config"]));
  write(
    dir,
    "examples/Fixture flow.json",
    exampleTypes.map((type, i) => ({ id: `n${i}`, type, z: "t1", x: 100, y: 40 * (i + 1), wires: [] })),
  );
  return dir;
}

const failing = (card) =>
  card.results
    .filter((r) => !r.pass)
    .map((r) => r.id)
    .sort();

function runScript(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, ...args], { cwd: REPO_ROOT }, (error, stdout, stderr) =>
      resolve({ code: error ? error.code : 0, stdout, stderr }),
    );
  });
}

describe("scripts/scorecard.js", function () {
  this.timeout(60_000);
  let tmp;

  before(function () {
    const html = path.join(REPO_ROOT, "build", "nodes", "clarus-webhook-in.html");
    assert.ok(fs.existsSync(html), "build/ is missing: run `npm run build` first (npm test does)");
    tmp = makeTempDir("clarus-scorecard-");
  });

  after(function () {
    removeDir(tmp);
  });

  context("on this package", function () {
    it("should pass every check against the built package", async function () {
      const card = await scorecard(REPO_ROOT);
      const failed = card.results.filter((r) => !r.pass);
      assert.deepEqual(failed, [], JSON.stringify(failed, null, 2));
      assert.deepEqual(
        card.results.map((r) => r.id),
        CHECKS.map((c) => c.id),
      );
    });

    it("should read the node types the way the flow library does, config nodes by category", function () {
      const definitions = readNodeDefinitions(
        path.join(REPO_ROOT, "build", "nodes", "clarus-connection.html"),
      );
      assert.equal(definitions["clarus-connection"].category, "config");
      assert.ok(definitions["clarus-connection"].defaults.includes("subdomain"));
      assert.deepEqual(definitions["clarus-connection"].credentials.sort(), [
        "accessToken",
        "clientId",
        "clientSecret",
        "redisUrl",
        "webhookToken",
      ]);
      const poll = readNodeDefinitions(path.join(REPO_ROOT, "build", "nodes", "clarus-poll.html"));
      assert.equal(poll["clarus-poll"].category, "Clarus WMS");
    });

    it("should print a table and exit 0", async function () {
      const { code, stdout } = await runScript([]);
      assert.equal(code, 0, stdout);
      for (const check of CHECKS) assert.match(stdout, new RegExp(`^${check.id} +pass +`, "m"));
      assert.match(stdout, /0 warnings, 0 hard failures/);
    });
  });

  context("on a fixture package", function () {
    it("should pass every check on the fixture as written", async function () {
      const card = await scorecard(writeFixture(path.join(tmp, "good")));
      assert.deepEqual(failing(card), [], JSON.stringify(card.results, null, 2));
    });

    it("should fail exactly P01, P04, P05, D01, N02 and D03 when it breaks those rules", async function () {
      const dir = writeFixture(path.join(tmp, "broken"), {
        exampleTypes: ["fixture-in"], // fixture-out is in no example
        change(pkg, lock) {
          delete pkg.license;
          pkg.name = "node-red-foo";
          delete pkg.keywords;
          pkg.dependencies = {};
          for (const dep of ["a", "b", "c", "d", "e", "f", "g"]) {
            pkg.dependencies[`dep-${dep}`] = "^1.0.0";
            lock.packages[`node_modules/dep-${dep}`] = { version: "1.2.3" };
          }
          pkg.dependencies["dep-g"] = "^2.0.0"; // the lock has 1.2.3
        },
      });
      const card = await scorecard(dir);
      assert.deepEqual(failing(card), ["D01", "D03", "N02", "P01", "P04", "P05"]);
      const detail = Object.fromEntries(card.results.map((r) => [r.id, r.detail]));
      assert.match(detail.P04, /node-red-foo is not scoped.*node-red-contrib-/);
      assert.match(detail.D01, /7 dependencies/);
      assert.match(detail.N02, /fixture-out/);
      assert.doesNotMatch(detail.N02, /fixture-config/);
      assert.match(detail.D03, /dep-g \^2\.0\.0 excludes the locked 1\.2\.3/);
    });

    it("should fail exactly P03, P06, P07, D02, F01 and F02 when it breaks the others", async function () {
      const dir = writeFixture(path.join(tmp, "broken-too"), {
        change(pkg, lock) {
          delete pkg.repository;
          pkg["node-red"].version = ">=6.0.0";
          pkg.engines.node = ">=24";
          pkg.files = ["examples/"]; // build/ would not be published
          pkg.dependencies = { "dep-a": "^1.0.0" };
          lock.packages["node_modules/dep-a/node_modules/agent-base"] = { version: "5.1.1" };
        },
      });
      const card = await scorecard(dir);
      assert.deepEqual(failing(card), ["D02", "F01", "F02", "P03", "P06", "P07"]);
      const detail = Object.fromEntries(card.results.map((r) => [r.id, r.detail]));
      assert.match(detail.D02, /agent-base@5\.1\.1/);
      assert.match(detail.F01, /build/);
      assert.match(detail.F02, /build\/fixture\.js/);
      assert.match(detail.F02, /build\/fixture\.html/);
      assert.match(detail.P07, /excludes Node 22\.9\.0/);
    });

    it("should fail N02 when an example is not a flow array, and P06 when no version is declared", async function () {
      const dir = writeFixture(path.join(tmp, "odd"), {
        change(pkg) {
          delete pkg["node-red"].version;
          pkg.dependencies["node-red"] = "^4.1.0";
        },
      });
      write(dir, "examples/README.md", "# not a flow\n");
      const card = await scorecard(dir, { pack: false });
      const detail = Object.fromEntries(card.results.map((r) => [r.id, r.detail]));
      assert.deepEqual(failing(card), ["D01", "D03", "N02", "P06"]);
      assert.match(detail.N02, /examples\/README\.md does not parse/);
      assert.match(detail.D01, /node-red is a runtime dependency/);
    });

    it("should let a package first published before 2021-12-01 keep an unscoped contrib name", async function () {
      const dir = writeFixture(path.join(tmp, "legacy"), {
        change(pkg) {
          pkg.name = "node-red-contrib-fixture";
        },
      });
      assert.deepEqual(failing(await scorecard(dir, { pack: false })), ["P04"]);
      const legacy = await scorecard(dir, { pack: false, firstPublished: "2019-05-01" });
      assert.deepEqual(failing(legacy), []);
    });

    it("should exit 1 on a hard failure, 0 on warnings only, and 1 on warnings with --strict", async function () {
      const hard = await runScript([path.join(tmp, "broken")]);
      assert.equal(hard.code, 1, hard.stdout);
      assert.match(hard.stdout, /^P01 +FAIL +hard +license +no license in package\.json$/m);
      assert.match(hard.stdout, /^D01 +WARN +warn +/m);
      assert.match(hard.stdout, /6 passed, 3 warnings, 3 hard failures/);

      const warnOnly = writeFixture(path.join(tmp, "warn-only"), { exampleTypes: ["fixture-in"] });
      const soft = await runScript([warnOnly]);
      assert.equal(soft.code, 0, soft.stdout);
      assert.match(soft.stdout, /^N02 +WARN +/m);
      const strict = await runScript([warnOnly, "--strict"]);
      assert.equal(strict.code, 1, strict.stdout);

      const json = await runScript([warnOnly, "--json"]);
      const card = JSON.parse(json.stdout);
      assert.equal(card.name, "@fixture/node-red-fixture");
      assert.deepEqual(failing(card), ["N02"]);
    });
  });
});
