// clarus-webhook-in at the HTTP edge of the real Node-RED (red.js as a child process, the package linked into
// its user directory): a core route one segment below a webhook path keeps its body and its answers, whichever
// was deployed first; every other request below a webhook path gets the node's JSON answer, never Node-RED's
// HTML error page; tokens and forwarded addresses arrive as senders and proxies really write them.
const assert = require("node:assert/strict");
const http = require("node:http");
const path = require("node:path");

const {
  REPO_ROOT,
  deployFlows,
  freePort,
  linkPackage,
  makeTempDir,
  removeDir,
  request,
  startNodeRed,
  writeSettings,
} = require("../helpers/red-process");
const { TOKEN, CLARUS_HEADERS, connectionConfig, webhookConfig, dispatched } = require("../helpers/fixtures");

const MARKER = "CLARUS-OUT ";

/** Our webhook-in at /clarus/events; each message it emits is logged as one line the test reads. */
function webhookNodes() {
  return [
    connectionConfig({ credentials: { webhookToken: TOKEN } }),
    webhookConfig({ z: "tab", x: 150, y: 80, wires: [["observer"]] }),
    {
      id: "observer",
      type: "function",
      z: "tab",
      name: "observer",
      func: `node.warn(${JSON.stringify(MARKER)} + JSON.stringify({ id: msg.payload.id, topic: msg.topic })); return null;`,
      outputs: 0,
      x: 400,
      y: 80,
      wires: [],
    },
  ];
}

/** A core `http in` one segment below the webhook path that answers with what its body parser read. */
function statusNodes(url = "/clarus/events/status") {
  return [
    {
      id: "status-in",
      type: "http in",
      z: "tab",
      name: "",
      url,
      method: "post",
      upload: false,
      x: 150,
      y: 160,
      wires: [["status-echo"]],
    },
    {
      id: "status-echo",
      type: "change",
      z: "tab",
      name: "",
      rules: [
        { t: "set", p: "payload", pt: "msg", to: '{"echo": payload, "params": req.params}', tot: "jsonata" },
      ],
      x: 400,
      y: 160,
      wires: [["status-out"]],
    },
    {
      id: "status-out",
      type: "http response",
      z: "tab",
      name: "",
      statusCode: "",
      x: 600,
      y: 160,
      wires: [],
    },
  ];
}

const TAB = { id: "tab", type: "tab", label: "routes" };

/**
 * POSTs `body` whole on a kept-alive connection, as a pooling client (or a proxy) sends it. A client that
 * asks to close instead may get a reset for an answer sent before its body, when the server closes on it
 * mid-upload; kept alive, the server discards the rest and the upload completes.
 */
function postKeptAlive(port, urlPath, body, headers) {
  const agent = new http.Agent({ keepAlive: true });
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: urlPath,
        agent,
        timeout: 15_000,
        headers: { ...headers, "Content-Length": String(Buffer.byteLength(body)) },
      },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${urlPath}: no answer within 15 s`)));
    req.on("error", reject);
    req.end(body);
  }).finally(() => agent.destroy());
}

/**
 * POSTs a JSON request that declares `declared` bytes but sends only its first 64 kB, and resolves with the
 * answer; it gets one only if the server answers without waiting for the body.
 */
function answerBeforeBodyEnds(port, urlPath, declared) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: "127.0.0.1",
      port,
      method: "POST",
      path: urlPath,
      agent: false,
      timeout: 10_000,
      headers: { ...CLARUS_HEADERS, "Content-Type": "application/json", "Content-Length": String(declared) },
    });
    req.on("response", (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        req.destroy();
        resolve({ status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${urlPath}: no answer while the body was unsent`)));
    req.on("error", reject);
    req.write(`{"pad":"${"x".repeat(64 * 1024)}`);
  });
}

describe("clarus-webhook-in at the HTTP edge of a real Node-RED", function () {
  this.timeout(60_000);
  let tmp;
  let red;

  before(async function () {
    tmp = makeTempDir("clarus-routes-");
    const userDir = path.join(tmp, "userDir");
    linkPackage(userDir, { name: "clarus-routes-test" });
    const port = await freePort();
    // CORS makes core register an OPTIONS route for "*": it must not count as a route for a POST.
    writeSettings({
      userDir,
      port,
      extra: { httpNodeCors: { origin: "*", methods: "GET,PUT,POST,DELETE" } },
    });
    red = await startNodeRed({ userDir, port });
  });

  after(async function () {
    if (red) await red.kill();
    removeDir(tmp);
  });

  /** Deploys `first` alone, then adds `second` with a "nodes" deploy, so `first`'s routes are registered first. */
  async function deployInOrder(first, second) {
    await deployFlows(red, [TAB], { deploymentType: "full" });
    await deployFlows(red, [TAB, ...first], { deploymentType: "full" });
    await deployFlows(red, [TAB, ...first, ...second], { deploymentType: "nodes" });
  }

  function post(urlPath, body, headers = {}) {
    return request({ port: red.port, method: "POST", path: urlPath, headers, body });
  }

  /** Asserts a delivery got through to the flow (the observer logged its id). */
  async function expectDelivered(urlPath, id, headers = CLARUS_HEADERS) {
    const since = red.lines.length;
    const delivered = await post(urlPath, dispatched(id), headers);
    assert.equal(delivered.status, 200, `${urlPath}: ${delivered.text}`);
    assert.deepEqual(delivered.json(), { ok: true });
    await red.waitForLine((line) => line.includes(`${MARKER}{"id":${id},`), { since });
  }

  /** The node's own JSON answer: no HTML page, no stack trace, no install path. */
  function assertOwnJsonAnswer(response, status) {
    assert.equal(response.status, status, response.text.slice(0, 300));
    assert.match(response.headers["content-type"], /^application\/json/, response.text.slice(0, 300));
    assert.doesNotMatch(response.text, /<html|<pre>|\bat \S+ \(|node_modules/i);
    assert.ok(!response.text.includes(tmp) && !response.text.includes(REPO_ROOT), response.text);
    const body = response.json();
    assert.equal(body.ok, false);
    return body;
  }

  context("beside a core http in one segment below its path", function () {
    async function expectBothWork(firstId) {
      const status = await post("/clarus/events/status", { ask: "status", n: 1 });
      assert.equal(status.status, 200, status.text);
      assert.deepEqual(
        status.json(),
        { echo: { ask: "status", n: 1 }, params: {} },
        "the core route got its parsed body",
      );

      await expectDelivered(`/clarus/events/${TOKEN}`, firstId);

      const wrong = await post("/clarus/events/not-the-token", dispatched(firstId + 1), CLARUS_HEADERS);
      assert.equal(wrong.status, 401, "a wrong token that no other route wants is still refused as one");
    }

    it("should leave the core route working when the core route was deployed first", async function () {
      await deployInOrder(statusNodes(), webhookNodes());
      await expectBothWork(101);
    });

    it("should leave the core route working when the webhook was deployed first", async function () {
      await deployInOrder(webhookNodes(), statusNodes());
      await expectBothWork(201);
    });

    it("should hand a core `http in` at <path>/:id its requests, with their parsed bodies", async function () {
      for (const [first, second] of [
        [webhookNodes(), statusNodes("/clarus/events/:id")],
        [statusNodes("/clarus/events/:id"), webhookNodes()],
      ]) {
        await deployInOrder(first, second);
        const status = await post("/clarus/events/order-7", { ask: "status", n: 2 });
        assert.equal(status.status, 200, status.text);
        assert.deepEqual(status.json(), { echo: { ask: "status", n: 2 }, params: { id: "order-7" } });
      }
      // Registered before the core route, the webhook keeps its token; everything else is the core route's.
      await deployInOrder(webhookNodes(), statusNodes("/clarus/events/:id"));
      await expectDelivered(`/clarus/events/${TOKEN}`, 301);
    });
  });

  context("when a request below the webhook path is refused", function () {
    before(async function () {
      await deployFlows(red, [TAB, ...webhookNodes()]);
    });

    it("should answer a 5 MB body to a wrong token with its JSON 401, before reading it", async function () {
      // Over Node-RED's own 5 MB API body limit, which its admin app applies to every request it parses.
      const big = JSON.stringify({ pad: "x".repeat(5 * 1024 * 1024 + 1024) });
      const wrong = await postKeptAlive(red.port, "/clarus/events/not-the-token", big, {
        ...CLARUS_HEADERS,
        "Content-Type": "application/json",
      });
      assert.deepEqual(assertOwnJsonAnswer(wrong, 401), { ok: false, error: "token wrong" });
      const form = await postKeptAlive(
        red.port,
        "/clarus/events/not-the-token",
        `pad=${"x".repeat(5 * 1024 * 1024 + 1024)}`,
        {
          ...CLARUS_HEADERS,
          "Content-Type": "application/x-www-form-urlencoded",
        },
      );
      assertOwnJsonAnswer(form, 401);
      // Answered with most of the body still unsent: nothing waited for it.
      const early = await answerBeforeBodyEnds(red.port, "/clarus/events/not-the-token", 6 * 1024 * 1024);
      assert.deepEqual(assertOwnJsonAnswer(early, 401), { ok: false, error: "token wrong" });
      await expectDelivered(`/clarus/events/${TOKEN}`, 401);
    });

    it("should answer a malformed escape in the token segment with its JSON 400", async function () {
      const malformed = await post("/clarus/events/%E0%A4%A", dispatched(1), CLARUS_HEADERS);
      assert.match(assertOwnJsonAnswer(malformed, 400).error, /percent-encoding/);
    });
  });

  context("when the HTTP nodes are mounted below the editor (httpNodeRoot)", function () {
    let mounted;

    before(async function () {
      const userDir = path.join(tmp, "mountedUserDir");
      linkPackage(userDir, { name: "clarus-routes-mounted-test" });
      const port = await freePort();
      writeSettings({ userDir, port, extra: { httpNodeRoot: "/hooks" } });
      mounted = await startNodeRed({ userDir, port });
      await deployFlows(mounted, [TAB, ...webhookNodes(), ...statusNodes("/clarus/events/status")]);
    });

    after(async function () {
      if (mounted) await mounted.kill();
    });

    it("should still answer a 5 MB body to a wrong token with its JSON 401", async function () {
      const early = await answerBeforeBodyEnds(mounted.port, "/hooks/clarus/events/wrong", 6 * 1024 * 1024);
      assert.deepEqual(assertOwnJsonAnswer(early, 401), { ok: false, error: "token wrong" });
      const status = await request({
        port: mounted.port,
        method: "POST",
        path: "/hooks/clarus/events/status",
        body: { ask: "status", n: 3 },
      });
      assert.equal(status.status, 200, status.text);
      assert.deepEqual(status.json(), { echo: { ask: "status", n: 3 }, params: {} });
    });
  });

  context("when the token holds characters that URLs encode", function () {
    // Typed by a user rather than generated (the dialog generates hex): `+`, `/`, a space and `%`.
    const SPECIAL = "Ab+cd/ef gh%ij";

    before(async function () {
      const [connection, ...rest] = webhookNodes();
      await deployFlows(red, [TAB, { ...connection, credentials: { webhookToken: SPECIAL } }, ...rest]);
    });

    it("should accept it in the path, percent-encoded or with a bare +", async function () {
      await expectDelivered(`/clarus/events/${encodeURIComponent(SPECIAL)}`, 501);
      await expectDelivered("/clarus/events/Ab+cd%2Fef%20gh%25ij", 502);
    });

    it("should accept ?token= with + or %2B as a plus", async function () {
      await expectDelivered("/clarus/events?token=Ab+cd%2Fef%20gh%25ij", 511);
      await expectDelivered(`/clarus/events?token=${encodeURIComponent(SPECIAL)}`, 512);
      await expectDelivered("/clarus/events?other=1&token=Ab%2bcd/ef%20gh%25ij", 513);
    });

    it("should accept Authorization: Bearer as written", async function () {
      await expectDelivered("/clarus/events", 521, { ...CLARUS_HEADERS, Authorization: `Bearer ${SPECIAL}` });
    });

    it("should still refuse the token with its + read as a space", async function () {
      const spaced = await post(
        "/clarus/events?token=Ab%20cd%2Fef%20gh%25ij",
        dispatched(531),
        CLARUS_HEADERS,
      );
      assert.deepEqual(assertOwnJsonAnswer(spaced, 401), { ok: false, error: "token wrong" });
      const broken = await post("/clarus/events?token=Ab+cd%2Fef%20gh%ij", dispatched(532), CLARUS_HEADERS);
      assert.deepEqual(assertOwnJsonAnswer(broken, 401), { ok: false, error: "token wrong" });
    });
  });

  context("when a proxy writes addresses with ports into X-Forwarded-For", function () {
    async function deployHook(settings) {
      const [connection, hook, observer] = webhookNodes();
      await deployFlows(red, [TAB, connection, { ...hook, ...settings }, observer]);
    }

    it("should strip the port of IPv4 and bracketed IPv6 entries for the allow list", async function () {
      await deployHook({ allowIps: "203.0.113.0/24, 2001:db8::/32", trustProxy: "127.0.0.1, ::1" });
      const from = (forwarded) => ({ ...CLARUS_HEADERS, "X-Forwarded-For": forwarded });
      await expectDelivered(`/clarus/events/${TOKEN}`, 601, from("203.0.113.9:5678"));
      await expectDelivered(`/clarus/events/${TOKEN}`, 602, from("[2001:db8::1]:5678"));
      await expectDelivered(`/clarus/events/${TOKEN}`, 603, from("[2001:db8::2]"));
      const outside = await post(`/clarus/events/${TOKEN}`, dispatched(604), from("198.51.100.7:5678"));
      assert.deepEqual(assertOwnJsonAnswer(outside, 403), {
        ok: false,
        error: "source address 198.51.100.7 is not allowed",
      });
    });

    it("should strip the port of a trusted proxy's own entry", async function () {
      await deployHook({ allowIps: "203.0.113.0/24", trustProxy: "127.0.0.1, 10.0.0.2" });
      const headers = { ...CLARUS_HEADERS, "X-Forwarded-For": "203.0.113.9:5678, 10.0.0.2:443" };
      await expectDelivered(`/clarus/events/${TOKEN}`, 611, headers);
      await deployHook({ allowIps: "203.0.113.0/24", trustProxy: "1" });
      await expectDelivered(`/clarus/events/${TOKEN}`, 612, {
        ...CLARUS_HEADERS,
        "X-Forwarded-For": "[::1]:1, 203.0.113.9:5678",
      });
    });
  });
});
