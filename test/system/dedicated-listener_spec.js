// clarus-webhook-in with `listenPort`: a listener of its own in a real Node-RED (red.js as a child process, the
// package linked into its user directory). Only the webhook routes answer on that port, with every answer of the
// contract; the editor and a core `http in` stay on Node-RED's port; the port follows the nodes through every
// kind of deploy, disable and restart, and closes with its last node; a port in use is an error, not a crash;
// with clarus.listener key and cert the port speaks HTTPS, and a redeploy takes a renewed certificate.
const assert = require("node:assert/strict");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const https = require("node:https");
const net = require("node:net");
const path = require("node:path");

const { eventually } = require("../helpers/eventually");
const {
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
const TAB = { id: "tab", type: "tab", label: "hooks" };
const NOT_FOUND = '{"ok":false,"error":"not found"}';

/** A function node that logs each message's id and which node sent it, one line the test can await. */
function observer() {
  return {
    id: "observer",
    type: "function",
    z: "tab",
    name: "observer",
    func: `node.warn(${JSON.stringify(MARKER)} + JSON.stringify({ id: msg.payload.id, path: msg.req ? "core" : "hook" })); return null;`,
    outputs: 0,
    x: 400,
    y: 80,
    wires: [],
  };
}

function hook(listenPort, overrides = {}) {
  return webhookConfig({
    z: "tab",
    x: 150,
    y: 80,
    listenPort: String(listenPort),
    wires: [["observer"]],
    ...overrides,
  });
}

/** A core `http in` → `http response` on Node-RED's server, which the dedicated port must not reach. */
function coreRoute(url) {
  return [
    {
      id: "core-in",
      type: "http in",
      z: "tab",
      name: "",
      url,
      method: "post",
      upload: false,
      x: 150,
      y: 160,
      wires: [["core-out"]],
    },
    { id: "core-out", type: "http response", z: "tab", name: "", statusCode: "", x: 400, y: 160, wires: [] },
  ];
}

/** Whether a TCP connect to the port is refused (nothing listens). */
function connectRefused(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (error) => resolve(error.code === "ECONNREFUSED"));
  });
}

/** The node's own JSON refusal: no HTML, no stack, nothing but the reason. */
function assertJsonRefusal(response, status) {
  assert.equal(response.status, status, response.text);
  assert.match(response.headers["content-type"], /^application\/json/);
  assert.doesNotMatch(response.text, /<html|<pre>|node_modules|Node-RED|express/i);
  assert.equal(response.json().ok, false);
}

describe("clarus-webhook-in on a port of its own (listenPort) in a real Node-RED", function () {
  this.timeout(90_000);
  let tmp;
  let red;
  let userDir;
  let hookPort;
  let otherPort;

  before(async function () {
    tmp = makeTempDir("clarus-listener-");
    userDir = path.join(tmp, "userDir");
    linkPackage(userDir, { name: "clarus-listener-test" });
    const port = await freePort();
    hookPort = await freePort();
    otherPort = await freePort();
    writeSettings({ userDir, port, extra: { clarus: { listener: { host: "127.0.0.1", trustProxy: 1 } } } });
    red = await startNodeRed({ userDir, port });
  });

  after(async function () {
    if (red) await red.kill();
    removeDir(tmp);
  });

  function onHook(method, urlPath, { body, headers = CLARUS_HEADERS, port = hookPort } = {}) {
    return request({ port, method, path: urlPath, headers, body });
  }

  /**
   * Posts delivery `id` and awaits it in the flow. A port a deploy opens afresh binds just after the deploy's
   * log line, so by default the port is awaited first; `alreadyOpen` asserts it never closed.
   */
  async function expectDelivered(
    id,
    { port = hookPort, urlPath = `/clarus/events/${TOKEN}`, alreadyOpen = false } = {},
  ) {
    if (!alreadyOpen)
      await eventually(async () => !(await connectRefused(port)), { what: `port ${port} open` });
    const since = red.lines.length;
    const answer = await onHook("POST", urlPath, { body: dispatched(id), port });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.json(), { ok: true });
    await red.waitForLine((line) => line.includes(`${MARKER}{"id":${id},"path":"hook"}`), { since });
    return since;
  }

  /** How many times the flow got delivery `id` since line `since`. */
  function deliveries(id, since) {
    return red.lines.slice(since).filter((line) => line.includes(`${MARKER}{"id":${id},`)).length;
  }

  describe("the contract on the dedicated port", function () {
    before(async function () {
      await deployFlows(red, [
        TAB,
        connectionConfig({ credentials: { webhookToken: TOKEN } }),
        hook(hookPort),
        hook(hookPort, { id: "small", path: "/clarus/small", maxBytes: 100 }),
        // One proxy in front (clarus.listener.trustProxy: 1) and only this source allowed.
        hook(hookPort, { id: "guarded", path: "/clarus/guarded", allowIps: "203.0.113.7" }),
        observer(),
        ...coreRoute("/core/echo"),
      ]);
    });

    it("should accept a delivery with the token as the last segment or as ?token=, once each", async function () {
      await expectDelivered(101);
      await expectDelivered(102, { urlPath: `/clarus/events?token=${TOKEN}` });
      const repeat = await onHook("POST", `/clarus/events/${TOKEN}`, { body: dispatched(101) });
      assert.deepEqual(repeat.json(), { ok: true, duplicate: true });
    });

    it("should answer 401 without the token and with a wrong one", async function () {
      assertJsonRefusal(await onHook("POST", "/clarus/events", { body: dispatched(1) }), 401);
      assertJsonRefusal(await onHook("POST", "/clarus/events/wrong-token", { body: dispatched(1) }), 401);
    });

    it("should answer 403 for a foreign identity and for a source not allowed, trusting one proxy hop", async function () {
      const foreign = { ...CLARUS_HEADERS, "X-ClarusWMS-Subdomain": "someone-else" };
      assertJsonRefusal(
        await onHook("POST", `/clarus/events/${TOKEN}`, { body: dispatched(2), headers: foreign }),
        403,
      );
      const direct = await onHook("POST", `/clarus/guarded/${TOKEN}`, { body: dispatched(3) });
      assertJsonRefusal(direct, 403);
      const spoofed = { ...CLARUS_HEADERS, "X-Forwarded-For": "203.0.113.7, 198.51.100.1" };
      assertJsonRefusal(
        await onHook("POST", `/clarus/guarded/${TOKEN}`, { body: dispatched(3), headers: spoofed }),
        403,
      );
      const proxied = { ...CLARUS_HEADERS, "X-Forwarded-For": "203.0.113.7" };
      const since = red.lines.length;
      const allowed = await onHook("POST", `/clarus/guarded/${TOKEN}`, {
        body: dispatched(3),
        headers: proxied,
      });
      assert.equal(allowed.status, 200, allowed.text);
      await red.waitForLine((line) => line.includes(`${MARKER}{"id":3,`), { since });
    });

    it("should answer 405 with Allow, 413, 415 and 400 as on Node-RED's server", async function () {
      const wrongMethod = await onHook("GET", `/clarus/events/${TOKEN}`);
      assertJsonRefusal(wrongMethod, 405);
      assert.equal(wrongMethod.headers.allow, "POST");
      assertJsonRefusal(
        await onHook("POST", `/clarus/small/${TOKEN}`, { body: { pad: "x".repeat(200) } }),
        413,
      );
      const text = { ...CLARUS_HEADERS, "Content-Type": "text/plain" };
      assertJsonRefusal(await onHook("POST", `/clarus/events/${TOKEN}`, { body: "{}", headers: text }), 415);
      assertJsonRefusal(await onHook("POST", `/clarus/events/${TOKEN}`, { body: '{"id":' }), 400);
      assertJsonRefusal(await onHook("POST", `/clarus/events/${TOKEN}`, { body: "[1,2]" }), 400);
      assertJsonRefusal(await onHook("POST", "/clarus/events/%E0%A4%A", { body: dispatched(4) }), 400);
    });

    it("should answer every other path 404 with no hint: the editor, its API, a core http in, other paths", async function () {
      const paths = [
        "/",
        "/red/red.min.js",
        "/flows",
        "/settings",
        "/nodes",
        "/core/echo",
        "/clarus",
        "/clarus/other",
        `/clarus/events/${TOKEN}/more`,
        "/clarus-wms/health",
      ];
      for (const urlPath of paths) {
        for (const method of ["GET", "POST"]) {
          const answer = await onHook(method, urlPath, { body: method === "POST" ? {} : undefined });
          assert.equal(answer.status, 404, `${method} ${urlPath}: ${answer.text}`);
          assert.equal(answer.text, NOT_FOUND, `${method} ${urlPath}`);
        }
      }
      // Meanwhile Node-RED's port still has the editor and the core route, and not the webhook.
      assert.equal((await request({ port: red.port, path: "/settings" })).status, 200);
      const core = await request({ port: red.port, method: "POST", path: "/core/echo", body: { a: 1 } });
      assert.equal(core.status, 200, core.text);
      const shared = await request({
        port: red.port,
        method: "POST",
        path: `/clarus/events/${TOKEN}`,
        headers: CLARUS_HEADERS,
        body: dispatched(5),
      });
      assert.equal(shared.status, 404);
    });

    it("should keep a connection alive across requests", async function () {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const sockets = new Set();
      try {
        for (const id of [201, 202, 203]) {
          const answer = await new Promise((resolve, reject) => {
            const body = JSON.stringify(dispatched(id));
            const req = http.request(
              {
                host: "127.0.0.1",
                port: hookPort,
                method: "POST",
                path: `/clarus/events/${TOKEN}`,
                agent,
                headers: {
                  ...CLARUS_HEADERS,
                  "Content-Type": "application/json",
                  "Content-Length": Buffer.byteLength(body),
                },
              },
              (res) => {
                sockets.add(res.socket);
                res.resume();
                res.on("end", () => resolve(res));
              },
            );
            req.on("error", reject);
            req.end(body);
          });
          assert.equal(answer.statusCode, 200);
          assert.equal(answer.headers.connection, "keep-alive");
        }
        assert.equal(sockets.size, 1, "all three requests went over one connection");
      } finally {
        agent.destroy();
      }
    });
  });

  describe("a port in use", function () {
    let squatter;

    before(async function () {
      squatter = net.createServer();
      await new Promise((resolve) => squatter.listen(otherPort, "127.0.0.1", resolve));
    });

    after(function () {
      return new Promise((resolve) => squatter.close(resolve));
    });

    it("should log an error and keep Node-RED and the other port running", async function () {
      const since = red.lines.length;
      await deployFlows(red, [
        TAB,
        connectionConfig({ credentials: { webhookToken: TOKEN } }),
        hook(hookPort),
        hook(otherPort, { id: "squatted", path: "/clarus/squatted" }),
        observer(),
      ]);
      await red.waitForLine((line) => /\[error\].*cannot listen: port \d+ in use/.test(line), { since });
      assert.ok(red.running);
      await expectDelivered(301);
    });
  });

  describe("the port through deploys, disables and restarts", function () {
    function flows({
      port = hookPort,
      hookProps = {},
      tabProps = {},
      connectionProps = {},
      withHook = true,
    } = {}) {
      return [
        { ...TAB, ...tabProps },
        connectionConfig({ credentials: { webhookToken: TOKEN }, ...connectionProps }),
        ...(withHook ? [hook(port, hookProps)] : []),
        observer(),
      ];
    }

    it("should serve each delivery once after full, flows and nodes deploys, with no second listener", async function () {
      const since = red.lines.length;
      await deployFlows(red, flows());
      await expectDelivered(401);
      // A redeploy hands the open port to the new node: it is never closed in between.
      await deployFlows(red, flows(), { deploymentType: "full" });
      await expectDelivered(402, { alreadyOpen: true });
      await deployFlows(red, flows({ hookProps: { name: "renamed" } }), { deploymentType: "flows" });
      await expectDelivered(403, { alreadyOpen: true });
      await deployFlows(red, flows({ hookProps: { name: "again" } }), { deploymentType: "nodes" });
      await expectDelivered(404, { alreadyOpen: true });
      for (const id of [401, 402, 403, 404]) assert.equal(deliveries(id, since), 1, `delivery ${id}`);
      assert.ok(
        !red.lines.slice(since).some((line) => /cannot listen|EADDRINUSE|\[error\]/.test(line)),
        red.tail(),
      );
    });

    it("should close the port when its node is disabled, and open it again when it is enabled", async function () {
      await deployFlows(red, flows({ hookProps: { d: true } }), { deploymentType: "nodes" });
      assert.ok(await connectRefused(hookPort));
      await deployFlows(red, flows(), { deploymentType: "nodes" });
      await expectDelivered(411);
    });

    it("should close the port with its tab disabled and with its connection disabled", async function () {
      await deployFlows(red, flows({ tabProps: { disabled: true } }), { deploymentType: "flows" });
      assert.ok(await connectRefused(hookPort));
      await deployFlows(red, flows(), { deploymentType: "flows" });
      await expectDelivered(421);
      await deployFlows(red, flows({ connectionProps: { d: true } }), { deploymentType: "full" });
      assert.ok(await connectRefused(hookPort));
      await deployFlows(red, flows(), { deploymentType: "full" });
      await expectDelivered(422);
    });

    it("should follow a node moved to another port: the old one refuses connections", async function () {
      const movedTo = await freePort();
      await deployFlows(red, flows({ port: movedTo }), { deploymentType: "nodes" });
      assert.ok(await connectRefused(hookPort));
      await expectDelivered(431, { port: movedTo });
      await deployFlows(red, flows(), { deploymentType: "nodes" });
      assert.ok(await connectRefused(movedTo));
      await expectDelivered(432);
    });

    it("should close the port when its last node is removed, and serve again after a restart", async function () {
      await deployFlows(red, flows({ withHook: false }), { deploymentType: "full" });
      assert.ok(await connectRefused(hookPort));
      await deployFlows(red, flows(), { deploymentType: "full" });
      await expectDelivered(441);
      await red.stop();
      assert.ok(await connectRefused(hookPort));
      red = await startNodeRed({ userDir, port: red.port });
      await eventually(async () => !(await connectRefused(hookPort)), {
        what: "the port open after the restart",
      });
      await expectDelivered(442);
    });
  });
});

/** A self-signed certificate for 127.0.0.1, made by openssl, written to `dir`. */
function makeCertificate(dir, name) {
  const key = path.join(dir, `${name}-key.pem`);
  const cert = path.join(dir, `${name}-cert.pem`);
  execFileSync(
    "openssl",
    [
      ...[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
      ],
      ...["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
    ],
    { stdio: "ignore" },
  );
  return { key, cert };
}

describe("clarus-webhook-in on a dedicated HTTPS port (clarus.listener key and cert)", function () {
  this.timeout(60_000);
  let tmp;
  let red;
  let hookPort;
  let files;

  before(async function () {
    tmp = makeTempDir("clarus-listener-tls-");
    const userDir = path.join(tmp, "userDir");
    linkPackage(userDir, { name: "clarus-listener-tls-test" });
    files = makeCertificate(tmp, "live");
    const port = await freePort();
    hookPort = await freePort();
    writeSettings({
      userDir,
      port,
      extra: { clarus: { listener: { host: "127.0.0.1", key: files.key, cert: files.cert } } },
    });
    red = await startNodeRed({ userDir, port });
  });

  after(async function () {
    if (red) await red.kill();
    removeDir(tmp);
  });

  function flows(name = "") {
    return [
      TAB,
      connectionConfig({ credentials: { webhookToken: TOKEN } }),
      webhookConfig({ z: "tab", name, listenPort: String(hookPort), wires: [["observer"]] }),
      observer(),
    ];
  }

  /** POSTs over TLS trusting only the certificate file `cert`; resolves with the status and the server's certificate. */
  function postTls(urlPath, body, cert) {
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: "127.0.0.1",
          port: hookPort,
          method: "POST",
          path: urlPath,
          ca: fs.readFileSync(cert),
          agent: false,
          headers: {
            ...CLARUS_HEADERS,
            "Content-Type": "application/json",
            "Content-Length": Buffer.byteLength(payload),
          },
        },
        (res) => {
          const peer = res.socket.getPeerCertificate();
          const chunks = [];
          res.on("data", (chunk) => chunks.push(chunk));
          res.on("end", () =>
            resolve({
              status: res.statusCode,
              text: Buffer.concat(chunks).toString(),
              fingerprint: peer.fingerprint256,
            }),
          );
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  it("should serve the webhook over HTTPS with the configured certificate and 404 the rest", async function () {
    await deployFlows(red, flows());
    await eventually(async () => !(await connectRefused(hookPort)), { what: "the TLS port open" });
    const since = red.lines.length;
    const answer = await postTls(`/clarus/events/${TOKEN}`, dispatched(501), files.cert);
    assert.equal(answer.status, 200, answer.text);
    await red.waitForLine((line) => line.includes(`${MARKER}{"id":501,`), { since });
    const other = await postTls("/flows", {}, files.cert);
    assert.equal(other.status, 404);
    assert.equal(other.text, NOT_FOUND);
    // Plain HTTP on the TLS port gets no webhook answer.
    await assert.rejects(
      request({
        port: hookPort,
        method: "POST",
        path: `/clarus/events/${TOKEN}`,
        body: dispatched(502),
        headers: CLARUS_HEADERS,
        timeoutMs: 3_000,
      }),
    );
  });

  it("should take a renewed certificate at the next deploy", async function () {
    const before = await postTls(`/clarus/events/${TOKEN}`, dispatched(511), files.cert);
    const renewed = makeCertificate(tmp, "renewed");
    fs.copyFileSync(renewed.key, files.key);
    fs.copyFileSync(renewed.cert, files.cert);
    await deployFlows(red, flows("renewed"), { deploymentType: "full" });
    const after = await postTls(`/clarus/events/${TOKEN}`, dispatched(512), files.cert);
    assert.equal(after.status, 200, after.text);
    assert.notEqual(after.fingerprint, before.fingerprint);
  });
});
