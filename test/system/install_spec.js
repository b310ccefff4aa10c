// Install test of the real product: `npm pack`, `npm install` into a fresh Node-RED user directory, the real
// Node-RED (red.js) as a child process, flows deployed and webhooks delivered over HTTP on 127.0.0.1.
// The same checks run on every supported runtime (test/helpers/compat-runtimes.js): Node-RED 4.1 (the
// devDependency) and 3.1 on the system Node 20, and Node-RED 5.0 on Node 22. 3.1, 5.0 and Node 22 are
// installed on first use into the git-ignored .compat/ and reused from there.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

const { describeRuntime, ensureRuntime } = require("../helpers/compat-runtimes");
const {
  REPO_ROOT,
  adminNodes,
  cleanCheckout,
  credentialsFile,
  deployFlows,
  freePort,
  installIntoUserDir,
  makeTempDir,
  packPackage,
  removeDir,
  request,
  runCommand,
  startNodeRed,
  writeSettings,
} = require("../helpers/red-process");

const MODULE = "@wmsflow/node-red-clarus";
const MANIFEST = require("../../package.json");
const VERSION = MANIFEST.version;
const NODE_SETS = Object.keys(MANIFEST["node-red"].nodes);
const MARKER = "CLARUS-OUT ";

/** Node-RED lines, in the order they run: the devDependency first, the ones installed on demand after it. */
const RUNTIMES = ["4.1", "3.1", "5.0"];

/** Cold, a runtime is an npm install (Node 22 alone is a ~50 MB download); warm, it is a file read. */
const RUNTIME_INSTALL_TIMEOUT_MS = 15 * 60_000;

// Not test/helpers/node-red.js: it loads build/ and the test helper at require time.
const { TOKEN, CLARUS_HEADERS, connectionConfig, webhookConfig, dispatched } = require("../helpers/fixtures");

/**
 * Node-RED runs `httpNodeMiddleware` at the head of every HTTP node route, ours included, so this counts
 * the route layers a request passes through: a stale route left by a redeploy would make it 2.
 */
const COUNT_ROUTE_LAYERS = `{
  httpNodeMiddleware: function (req, res, next) {
    req.routeLayers = (req.routeLayers || 0) + 1;
    res.setHeader("X-Route-Layers", String(req.routeLayers));
    next();
  },
}`;

/** clarus-webhook-in → a function node that logs each message it gets as one line the test reads. */
function observedFlow() {
  return [
    { id: "tab", type: "tab", label: "install test" },
    connectionConfig({ credentials: { webhookToken: TOKEN } }),
    webhookConfig({
      z: "tab",
      name: "",
      x: 150,
      y: 80,
      wires: [["dispatched", "goods-in", "adjustment", "hold", "any-event"]],
    }),
    // Every delivery here is a dispatched sales order: it passes this filter, which adds its fields.
    { ...filter("dispatched", "clarus-sales-order-dispatched", 80), wires: [["observer"]] },
    // The other filters get each delivery too and let none through (their outputs lead nowhere anyway).
    filter("goods-in", "clarus-goods-in-completed", 140),
    { ...filter("adjustment", "clarus-stock-adjustment", 200), direction: "both" },
    { ...filter("hold", "clarus-stock-hold", 260), change: "both" },
    { ...filter("any-event", "clarus-event", 320), events: [], automationIds: "" },
    {
      id: "observer",
      type: "function",
      z: "tab",
      name: "observer",
      func: `node.warn(${JSON.stringify(MARKER)} + JSON.stringify({ id: msg.payload.id, topic: msg.topic, key: msg.clarus.dedupeKey, duplicate: msg.clarus.duplicate, recordId: msg.clarus.recordId, reference: msg.clarus.reference })); return null;`,
      outputs: 0,
      x: 650,
      y: 80,
      wires: [],
    },
  ];
}

function filter(id, type, y) {
  return { id, type, z: "tab", name: "", otherOutput: false, outputs: 1, x: 400, y, wires: [[]] };
}

function parseObserved(line) {
  const at = line.indexOf(MARKER);
  return at === -1 ? undefined : JSON.parse(line.slice(at + MARKER.length));
}

describe("install: the packed package in a real Node-RED", function () {
  this.timeout(60_000);

  let packDir;
  let checkout;
  let tarball;

  /** A clean checkout of the working tree, as a fresh clone has it: no build/, no node_modules. */
  function cleanRepository() {
    checkout ??= (async () => {
      packDir = makeTempDir("clarus-pack-");
      const dir = await cleanCheckout({ destination: path.join(packDir, "checkout") });
      assert.ok(!fs.existsSync(path.join(dir, "build")), "the clean checkout has a build/");
      return dir;
    })();
    return checkout;
  }

  /**
   * `npm pack` in the clean checkout, once for every runtime: nothing is built beforehand, `prepack` builds.
   * Its devDependencies (TypeScript) are this repository's, as a clone has them after `npm install`.
   */
  function packedTarball() {
    tarball ??= (async () => {
      const dir = await cleanRepository();
      fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(dir, "node_modules"), "dir");
      return packPackage({ packageDir: dir, destination: packDir });
    })();
    return tarball;
  }

  after(function () {
    removeDir(packDir);
  });

  it("should pack a clean checkout without a prior build into a tarball holding every compiled node", async function () {
    this.timeout(180_000);
    const file = await packedTarball();
    const { stdout } = await runCommand("tar", ["-tzf", file]);
    const packed = new Set(stdout.split("\n").map((entry) => entry.replace(/^package\//, "")));
    for (const entry of Object.values(MANIFEST["node-red"].nodes)) {
      assert.ok(packed.has(entry), `${entry} is not in the tarball`);
      assert.ok(packed.has(entry.replace(/\.js$/, ".html")), `${entry}'s editor HTML is not in the tarball`);
    }
    assert.ok(
      packed.has("build/nodes/locales/en-US/clarus-webhook-in.json"),
      "locales are not in the tarball",
    );
    assert.ok(packed.has("build/nodes/icons/clarus-webhook.svg"), "icons are not in the tarball");
    for (const entry of Object.values(MANIFEST["node-red"].plugins))
      assert.ok(packed.has(entry), `the plugin ${entry} is not in the tarball`);
    for (const resource of ["resources/clarus-sidebar.js", "resources/clarus-sidebar.css"])
      assert.ok(packed.has(resource), `${resource} is not in the tarball`);
  });

  for (const nodeRed of RUNTIMES) {
    describe(describeRuntime({ nodeRed }).label, function () {
      let runtime;
      let tmp;
      let userDir;
      let port;
      let red;
      let broken = false;

      /** This runtime's red.js on this runtime's node, in the user directory the package was installed into. */
      function start() {
        return startNodeRed({ redJs: runtime.redJs, nodeBinary: runtime.nodeBinary, userDir, port });
      }

      function deliver(id, { token = TOKEN, headers = CLARUS_HEADERS } = {}) {
        return request({
          port,
          method: "POST",
          path: `/clarus/events/${token}`,
          headers,
          body: dispatched(id),
        });
      }

      async function expectAnswer(id, expected, options) {
        const res = await deliver(id, options);
        assert.equal(res.status, expected.status ?? 200, `delivery ${id}: ${res.status} ${res.text}`);
        if (expected.body) assert.deepEqual(res.json(), expected.body, `delivery ${id}`);
        assert.equal(res.headers["x-route-layers"], "1", `delivery ${id} passed through more than one route`);
        return res;
      }

      /** What came out of the flow from log line `since` on. */
      function observedSince(since) {
        return red.lines.slice(since).map(parseObserved).filter(Boolean);
      }

      /**
       * A fresh delivery after the ones under test: messages leave the node in order and the log is written
       * in order, so once the barrier is out every earlier message that was going to come out has.
       */
      async function barrier(id, since) {
        await expectAnswer(id, { body: { ok: true } });
        await red.waitForLine((line) => parseObserved(line)?.id === id, { since });
      }

      function countsById(entries) {
        const counts = new Map();
        for (const entry of entries) counts.set(entry.id, (counts.get(entry.id) ?? 0) + 1);
        return counts;
      }

      /** Sends Content-Length: `length` and headers only; resolves with the answer, which must come without a body. */
      function declareBody(length) {
        return new Promise((resolve, reject) => {
          const started = Date.now();
          const req = http.request({
            host: "127.0.0.1",
            port,
            method: "POST",
            path: `/clarus/events/${TOKEN}`,
            headers: { ...CLARUS_HEADERS, "Content-Type": "application/json", "Content-Length": length },
            agent: false,
          });
          const timer = setTimeout(
            () =>
              req.destroy(new Error(`no answer within 5 s to Content-Length ${length} (body being read?)`)),
            5000,
          );
          req.on("error", (error) => {
            clearTimeout(timer);
            reject(error);
          });
          req.on("response", (res) => {
            const chunks = [];
            res.on("data", (chunk) => chunks.push(chunk));
            res.on("end", () => {
              clearTimeout(timer);
              req.destroy();
              const text = Buffer.concat(chunks).toString("utf8");
              resolve({ status: res.statusCode, headers: res.headers, text, ms: Date.now() - started });
            });
          });
          req.flushHeaders();
        });
      }

      before(async function () {
        this.timeout(RUNTIME_INSTALL_TIMEOUT_MS);
        runtime = await ensureRuntime({ nodeRed });
        tmp = makeTempDir(`clarus-install-${nodeRed}-`);
        userDir = path.join(tmp, "userDir");
        fs.mkdirSync(userDir);
        await installIntoUserDir({ userDir, packages: [await packedTarball()] });
        port = await freePort();
        writeSettings({ userDir, port, extraSource: COUNT_ROUTE_LAYERS });
        red = await start();
      });

      beforeEach(function () {
        // Each step builds on the one before; after a failure the rest would only repeat it.
        if (broken) this.skip();
      });

      afterEach(function () {
        if (this.currentTest.state === "failed") broken = true;
      });

      after(async function () {
        if (red) await red.kill();
        removeDir(tmp);
      });

      it("should start the Node-RED version under test on the Node.js version under test", function () {
        // Node-RED logs both at start-up, e.g. "[info] Node-RED version: v5.0.7", "[info] Node.js  version: v22.23.3".
        const logged = (pattern) => red.lines.map((line) => pattern.exec(line)?.[1]).find(Boolean);
        // A Node-RED inside a git checkout (the devDependency, in node_modules of this repo) adds "-git".
        assert.equal(
          logged(/\bNode-RED version: (v\S+?)(?:-git)?$/),
          `v${runtime.nodeRedVersion}`,
          red.tail(),
        );
        assert.equal(logged(/\bNode\.js\s+version: (v\S+)/), runtime.nodeVersion, red.tail());
      });

      it("should load the module from the user directory with every node type enabled", async function () {
        const sets = (await adminNodes(port)).filter((set) => set.module === MODULE);
        assert.ok(sets.length > 0, `${MODULE} is not loaded:\n${red.tail()}`);
        // Each entry of package.json's node-red.nodes is a node set of that name holding the type of that name.
        assert.deepEqual(sets.map((set) => set.name).sort(), [...NODE_SETS].sort(), "node sets");
        assert.deepEqual(sets.flatMap((set) => set.types).sort(), [...NODE_SETS].sort(), "node types");
        for (const name of NODE_SETS) {
          const set = sets.find((candidate) => candidate.name === name);
          assert.deepEqual(set.types, [name], `node set ${name}`);
          assert.equal(set.err, undefined, `${name} failed to load: ${set.err}\n${red.tail()}`);
          assert.equal(set.enabled, true, `${name} is not enabled`);
          assert.equal(set.version, VERSION, `${name}'s version`);
          assert.equal(set.local, true, `${name} was not loaded from <userDir>/node_modules`);
        }
      });

      it("should load the Clarus tab's plugin with its editor code and messages", async function () {
        const ask = (urlPath, accept) => request({ port, path: urlPath, headers: { Accept: accept } });
        const plugins = (await ask("/plugins", "application/json")).json();
        const ours = plugins.filter((plugin) => plugin.module === MODULE);
        assert.deepEqual(
          ours.map((plugin) => plugin.name),
          Object.keys(MANIFEST["node-red"].plugins),
          `plugins: ${JSON.stringify(plugins)}\n${red.tail()}`,
        );
        assert.equal(ours[0].err, undefined, `the plugin failed to load: ${ours[0].err}`);
        const html = (await ask("/plugins", "text/html")).text;
        assert.match(html, /RED\.plugins\.registerPlugin\("clarus-sidebar"/);
        assert.match(html, /clarus-sidebar\.js/);
        const script = await ask("/resources/@wmsflow/node-red-clarus/clarus-sidebar.js", "*/*");
        assert.equal(script.status, 200, "the tab's script is not served");
        const messages = (await ask("/plugins/messages?lng=en-US", "application/json")).json();
        assert.equal(
          messages[`${MODULE}/clarus-sidebar`]?.["clarus-sidebar"]?.label,
          "Clarus",
          "tab catalog",
        );
      });

      it("should deploy a flow with the connection's credentials through the admin API", async function () {
        const since = red.lines.length;
        const { rev } = await deployFlows(red, observedFlow());
        assert.equal(typeof rev, "string");
        const credentials = fs.readFileSync(credentialsFile({ userDir }), "utf8");
        assert.ok(!credentials.includes(TOKEN), "the webhook token is stored unencrypted");
        const errors = red.lines.slice(since).filter((line) => /\[error\]/.test(line));
        assert.deepEqual(errors, []);
      });

      it("should emit each distinct delivery once and answer repeats as duplicates", async function () {
        const since = red.lines.length;
        await expectAnswer(101, { body: { ok: true } });
        await expectAnswer(102, { body: { ok: true } });
        await expectAnswer(101, { body: { ok: true, duplicate: true } });
        await expectAnswer(103, { body: { ok: true } });
        await expectAnswer(102, { body: { ok: true, duplicate: true } });
        await expectAnswer(104, { body: { ok: true } });
        await expectAnswer(101, { body: { ok: true, duplicate: true } });
        // Five copies at once: exactly one is fresh.
        const burst = await Promise.all([1, 2, 3, 4, 5].map(() => deliver(105)));
        assert.deepEqual(
          burst.map((res) => res.status),
          [200, 200, 200, 200, 200],
        );
        assert.equal(burst.filter((res) => res.json().duplicate !== true).length, 1);
        await barrier(199, since);
        const out = observedSince(since);
        assert.deepEqual(
          out.map((entry) => entry.id).sort((a, b) => a - b),
          [101, 102, 103, 104, 105, 199],
        );
        for (const entry of out) {
          assert.equal(entry.topic, "goods_out.completed");
          assert.equal(entry.key, `goods_out.completed:${entry.id}`);
          assert.equal(entry.duplicate, false);
          // Added by the clarus-sales-order-dispatched filter the message passed through.
          assert.equal(entry.recordId, String(entry.id));
          assert.equal(entry.reference, `SO-${entry.id}`);
        }
      });

      it("should answer a wrong token with 401 and never emit it", async function () {
        const since = red.lines.length;
        const res = await expectAnswer(150, { status: 401 }, { token: "not-the-token" });
        assert.equal(res.json().ok, false);
        assert.ok(!red.lines.slice(since).some((line) => line.includes(TOKEN)), "the token was logged");
        await barrier(198, since);
        assert.deepEqual(
          observedSince(since).map((entry) => entry.id),
          [198],
        );
      });

      it("should remember deliveries across a restart of Node-RED", async function () {
        const status = await red.stop({ signal: "SIGINT" });
        assert.equal(status.code, 0, `Node-RED exited with ${JSON.stringify(status)}:\n${red.tail()}`);
        const store = path.join(userDir, "clarus");
        assert.ok(fs.readdirSync(store).length > 0, "no dedupe store under <userDir>/clarus");
        const flowFile = fs.readFileSync(path.join(userDir, "flows.json"), "utf8");
        assert.ok(!flowFile.includes("goods_out.completed:101"), "dedupe keys are kept in the flow file");

        red = await start();
        await expectAnswer(101, { body: { ok: true, duplicate: true } });
        await expectAnswer(104, { body: { ok: true, duplicate: true } });
        await expectAnswer(201, { body: { ok: true } });
        await barrier(299, 0);
        assert.deepEqual(
          observedSince(0).map((entry) => entry.id),
          [201, 299],
        );
      });

      it("should answer a 10 MB Content-Length with 413 before anything reads the body", async function () {
        const since = red.lines.length;
        // 10 MB is over the admin app's own parser limit (5 MB) too; 2 MB is under it, so had the admin
        // app's JSON parser got the request first, it would wait for a body that never comes.
        for (const length of [10 * 1024 * 1024, 2 * 1024 * 1024]) {
          const res = await declareBody(length);
          assert.equal(res.status, 413, `Content-Length ${length}: ${res.status} ${res.text}`);
          assert.deepEqual(JSON.parse(res.text), {
            ok: false,
            error: `body of ${length} bytes is over the limit of 1048576`,
          });
          assert.equal(res.headers.connection, "close");
          assert.equal(res.headers["x-route-layers"], "1");
          assert.ok(res.ms < 2000, `413 took ${res.ms} ms`);
        }
        await barrier(399, since);
        assert.deepEqual(
          observedSince(since).map((entry) => entry.id),
          [399],
        );
      });

      it("should leave exactly one route after 50 redeploys", async function () {
        for (let deploy = 0; deploy < 50; deploy++) await deployFlows(red, observedFlow());
        const since = red.lines.length;
        for (const id of [401, 402, 403, 404, 405]) await expectAnswer(id, { body: { ok: true } });
        await expectAnswer(401, { body: { ok: true, duplicate: true } });
        await barrier(499, since);
        const counts = countsById(observedSince(since));
        assert.deepEqual(
          [...counts],
          [401, 402, 403, 404, 405, 499].map((id) => [id, 1]),
        );
        const errors = red.lines.filter((line) => /\[error\]/.test(line));
        assert.deepEqual(errors, []);
      });
    });
  }
  // `npm install github:<owner>/<repo>` as a user would run it before the package is on npm: npm clones the
  // repository, installs its devDependencies there, runs `prepare` (which builds) and installs the result.
  describe("installed from git (npm install git+file://…) in Node-RED 4.1", function () {
    let tmp;
    let port;
    let red;

    before(async function () {
      this.timeout(15 * 60_000);
      const repository = await cleanRepository();
      tmp = makeTempDir("clarus-git-install-");
      const userDir = path.join(tmp, "userDir");
      fs.mkdirSync(userDir);
      await installIntoUserDir({ userDir, packages: [`git+file://${repository}`], timeoutMs: 15 * 60_000 });
      port = await freePort();
      writeSettings({ userDir, port });
      red = await startNodeRed({ userDir, port });
    });

    after(async function () {
      if (red) await red.kill();
      removeDir(tmp);
    });

    it("should load every node of the package built by prepare, and receive a webhook", async function () {
      const sets = (await adminNodes(port)).filter((set) => set.module === MODULE);
      assert.deepEqual(sets.map((set) => set.name).sort(), [...NODE_SETS].sort(), red.tail());
      for (const set of sets) assert.equal(set.err, undefined, `${set.name} failed to load: ${set.err}`);
      const since = red.lines.length;
      await deployFlows(red, observedFlow());
      const res = await request({
        port,
        method: "POST",
        path: `/clarus/events/${TOKEN}`,
        headers: CLARUS_HEADERS,
        body: dispatched(7001),
      });
      assert.equal(res.status, 200, res.text);
      const { line } = await red.waitForLine((entry) => parseObserved(entry)?.id === 7001, { since });
      assert.equal(parseObserved(line).topic, "goods_out.completed");
    });
  });
});
