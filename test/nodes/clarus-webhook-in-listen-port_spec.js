// clarus-webhook-in's `listenPort` in the test helper's runtime: what the status shows when the port cannot be
// had or the value is not a port, and that two nodes on one port share one listener and the same-path rule.
const assert = require("node:assert/strict");
const net = require("node:net");

const {
  helper,
  connectionNode,
  webhookNode,
  TOKEN,
  CLARUS_HEADERS,
  connectionConfig,
  webhookConfig,
  dispatched,
} = require("../helpers/node-red");
const { freePort, request } = require("../helpers/red-process");
const { waitForStatus } = require("../helpers/status");

describe("clarus-webhook-in listenPort", function () {
  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    await helper.unload();
    helper.settings({});
  });

  function load(hooks) {
    helper.settings({ clarus: { listener: { host: "127.0.0.1" } } });
    return helper.load([connectionNode, webhookNode], [connectionConfig(), ...hooks], {
      conn: { webhookToken: TOKEN },
    });
  }

  it("should show a red status and log an error when the port is in use, without throwing", async function () {
    const squatter = net.createServer();
    const port = await freePort();
    await new Promise((resolve) => squatter.listen(port, "127.0.0.1", resolve));
    try {
      await load([webhookConfig({ listenPort: String(port), wires: [[]] })]);
      const hook = helper.getNode("hook");
      const status = await waitForStatus(hook, (shown) => /in use/.test(shown.text ?? ""));
      assert.equal(status.fill, "red");
      assert.equal(status.text, `port ${port} in use`);
      assert.ok(
        hook.error.getCalls().some((call) => /cannot listen: port \d+ in use/.test(String(call.args[0]))),
      );
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it("should refuse a listenPort that is not a port number, and listen nowhere", async function () {
    await load([webhookConfig({ listenPort: "70000", wires: [[]] })]);
    const hook = helper.getNode("hook");
    const status = await waitForStatus(hook, (shown) => shown.fill === "red");
    assert.match(status.text, /^listenPort "70000"/);
    assert.equal(status.fill, "red");
    assert.ok(hook.error.getCalls().some((call) => /listenPort "70000"/.test(String(call.args[0]))));
  });

  it("should serve two nodes on one port, refuse a second node on the same method and path there", async function () {
    const port = await freePort();
    await load([
      webhookConfig({ listenPort: String(port), wires: [[]] }),
      webhookConfig({ id: "hook2", path: "/clarus/second", listenPort: String(port), wires: [[]] }),
      webhookConfig({ id: "hook3", listenPort: String(port), wires: [[]] }),
    ]);
    await waitForStatus(
      helper.getNode("hook2"),
      (shown) => shown.text === `listening POST :${port}/clarus/second`,
    );
    const third = await waitForStatus(helper.getNode("hook3"), (shown) => shown.fill === "red");
    assert.match(third.text, /^POST \/clarus\/events on port \d+ is al/);
    for (const path of [`/clarus/events/${TOKEN}`, `/clarus/second/${TOKEN}`]) {
      const answer = await request({
        port,
        method: "POST",
        path,
        headers: CLARUS_HEADERS,
        body: dispatched(7),
      });
      assert.equal(answer.status, 200, `${path}: ${answer.text}`);
    }
  });
});
