// clarus-webhook-in beside core `http in` routes in the real Node-RED (red.js as a child process, the
// package linked into its user directory): a core route one segment below a webhook path must keep
// its body and its answers, whichever of the two was deployed first (issue 13 item 12).
const assert = require("node:assert/strict");
const path = require("node:path");

const {
  deployFlows,
  freePort,
  linkPackage,
  makeTempDir,
  removeDir,
  request,
  startNodeRed,
  writeSettings,
} = require("./helpers/red-process");
const { TOKEN, CLARUS_HEADERS, connectionConfig, webhookConfig, dispatched } = require("./helpers/fixtures");

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
function statusNodes() {
  return [
    {
      id: "status-in",
      type: "http in",
      z: "tab",
      name: "",
      url: "/clarus/events/status",
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
      rules: [{ t: "set", p: "payload", pt: "msg", to: '{"echo": payload}', tot: "jsonata" }],
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

describe("clarus-webhook-in beside a core http in one segment below its path", function () {
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

  async function expectBothWork(firstId) {
    const status = await post("/clarus/events/status", { ask: "status", n: 1 });
    assert.equal(status.status, 200, status.text);
    assert.deepEqual(status.json(), { echo: { ask: "status", n: 1 } }, "the core route got its parsed body");

    const since = red.lines.length;
    const delivered = await post(`/clarus/events/${TOKEN}`, dispatched(firstId), CLARUS_HEADERS);
    assert.equal(delivered.status, 200, delivered.text);
    assert.deepEqual(delivered.json(), { ok: true });
    await red.waitForLine((line) => line.includes(`${MARKER}{"id":${firstId},`), { since });

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
});
