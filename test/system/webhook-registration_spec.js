// Webhook self-registration in the real Node-RED (red.js as a child process, the package linked into its user
// directory, flows deployed through the admin API): redeploys and restarts never create or delete an automation,
// a rotated token is updated in place, disabling the node or its tab disables its automations and enabling it
// enables the same ones again, emptying `register` disables them, deleting the node deletes them, and one
// disabled in Clarus is enabled again by the next drift check.
const assert = require("node:assert/strict");
const path = require("node:path");

const { startSimulator } = require("../../build/dev/sim/index.js");
const {
  deployFlows,
  freePort,
  linkPackage,
  makeTempDir,
  removeDir,
  startNodeRed,
  writeSettings,
} = require("../helpers/red-process");
const { TOKEN, connectionConfig, webhookConfig } = require("../helpers/fixtures");
const { eventually } = require("../helpers/eventually");
const EVENTS = ["goods_out.completed", "goods_in.completed", "stock.placed_on_hold"];
const ROTATED = "rotated-token-9876543210fedcba";
const REDEPLOYS = 20;

/** The node's log line once a registration run has finished, whatever its outcome. */
const REGISTERED =
  /\[clarus-webhook-in:registering\] (registered with Clarus|registration with Clarus failed)/;

describe("webhook registration in the real Node-RED", function () {
  this.timeout(120_000);

  let tmp;
  let userDir;
  let port;
  let red;
  let sim;

  function flow({
    token = TOKEN,
    withHook = true,
    register = EVENTS,
    hookDisabled = false,
    tabDisabled = false,
    driftMinutes,
  } = {}) {
    const connection = connectionConfig({
      name: "sim",
      subdomain: sim.subdomain,
      domain: sim.domain,
      apiUrl: sim.url,
      publicUrl: `http://127.0.0.1:${port}`,
      automations: [],
      // Unset, as in every flow made before it: 15 minutes, so no check runs within a test.
      ...(driftMinutes !== undefined ? { driftMinutes } : {}),
      credentials: { clientId: sim.clientId, clientSecret: sim.clientSecret, webhookToken: token },
    });
    const hook = webhookConfig({
      z: "tab",
      name: "registering",
      register,
      ...(hookDisabled ? { d: true } : {}),
      x: 150,
      y: 80,
      wires: [[]],
    });
    const tab = { id: "tab", type: "tab", label: "registration", disabled: tabDisabled };
    return [tab, connection, ...(withHook ? [hook] : [])];
  }

  /** Deploys and resolves with the finished registration's log line. */
  async function deployAndRegister(options) {
    const since = red.lines.length;
    await deployFlows(red, flow(options));
    return (await red.waitForLine(REGISTERED, { since })).line;
  }

  function ours() {
    return sim.store.automations
      .all()
      .filter((a) => a.name.startsWith("node-red-clarus hook "))
      .map((a) => ({ id: a.id, name: a.name, urls: sim.webhookTargets(a.id).map((t) => t.url) }));
  }

  /** Id and enabled flag of each of the node's automations, by id. */
  function states() {
    return sim.store.automations
      .all()
      .filter((a) => a.name.startsWith("node-red-clarus hook "))
      .map((a) => [a.id, a.enabled])
      .sort((a, b) => a[0] - b[0]);
  }

  /** Deploys, then waits until the node's automations are as `enabled` says; resolves with their ids. */
  async function deployUntil(options, enabled, what) {
    await deployFlows(red, flow(options));
    await eventually(() => states().length > 0 && states().every(([, on]) => on === enabled), {
      what: `${what}: every automation ${enabled ? "enabled" : "disabled"} (now ${JSON.stringify(states())})`,
    });
    return states().map(([id]) => id);
  }

  /** One event of each kind, delivered by the simulator: resolves with the answers Node-RED gave. */
  async function deliverEach() {
    const before = sim.sent.length;
    for (const event of EVENTS) sim.generate(1, [event]);
    await sim.flush();
    return sim.sent.slice(before).map((d) => d.status ?? d.error);
  }

  before(async function () {
    tmp = makeTempDir("clarus-registration-");
    userDir = path.join(tmp, "userDir");
    linkPackage(userDir, { name: "clarus-registration-test" });
    port = await freePort();
    writeSettings({ userDir, port });
    sim = await startSimulator({ history: 0, seed: 5 });
    red = await startNodeRed({ userDir, port });
  });

  after(async function () {
    if (red) await red.kill();
    if (sim) await sim.stop();
    removeDir(tmp);
  });

  it(`should create one automation per event once, and none again in ${REDEPLOYS} redeploys`, async function () {
    const first = await deployAndRegister();
    assert.match(
      first,
      /registered with Clarus at http:\/\/127\.0\.0\.1:\d+\/clarus\/events\/<webhook token>: /,
    );
    const created = ours();
    assert.equal(created.length, EVENTS.length);
    for (let i = 1; i < REDEPLOYS; i++) {
      const line = await deployAndRegister();
      assert.match(line, /goods_out\.completed exists/, `redeploy ${i}: ${line}`);
    }
    assert.deepEqual(ours(), created);
    const { create, update, delete: deleted } = sim.automationsApi.counts;
    assert.deepEqual({ create, update, deleted }, { create: EVENTS.length, update: 0, deleted: 0 });
    assert.deepEqual(await deliverEach(), [200, 200, 200]);
  });

  it("should update the URL in place when a redeploy rotates the token", async function () {
    const before = ours().map((a) => a.id);
    const line = await deployAndRegister({ token: ROTATED });
    assert.match(line, /goods_out\.completed updated/);
    const after = ours();
    assert.deepEqual(
      after.map((a) => a.id),
      before,
    );
    assert.ok(after.every((a) => a.urls.length === 1 && a.urls[0].endsWith(`/clarus/events/${ROTATED}`)));
    assert.deepEqual(await deliverEach(), [200, 200, 200]);
  });

  it("should keep the automations through a restart of Node-RED", async function () {
    const before = ours();
    const deletes = sim.automationsApi.counts.delete;
    await red.stop();
    const since = 0;
    red = await startNodeRed({ userDir, port });
    const { line } = await red.waitForLine(REGISTERED, { since });
    assert.match(line, /goods_out\.completed exists/);
    assert.deepEqual(ours(), before);
    assert.equal(sim.automationsApi.counts.delete, deletes);
    assert.deepEqual(await deliverEach(), [200, 200, 200]);
  });

  it("should enable an automation disabled in Clarus again at the next drift check", async function () {
    await deployAndRegister({ driftMinutes: 0.05 });
    const ids = states().map(([id]) => id);
    const [target] = ids;
    const { create, delete: deleted } = sim.automationsApi.counts;
    const since = red.lines.length;
    sim.updateAutomation(target, { enabled: false });
    assert.deepEqual(await deliverEach(), [200, 200], "the disabled automation still delivered");
    const { line } = await red.waitForLine(/was disabled in Clarus/, { since });
    assert.match(
      line,
      new RegExp(
        `\\[warn\\] \\[clarus-webhook-in:registering\\] automation ${target} \\([a-z_.]+\\) was disabled in Clarus: enabled again$`,
      ),
    );
    assert.deepEqual(
      states(),
      ids.map((id) => [id, true]),
    );
    assert.deepEqual([sim.automationsApi.counts.create, sim.automationsApi.counts.delete], [create, deleted]);
    assert.deepEqual(await deliverEach(), [200, 200, 200]);
    assert.deepEqual(
      red.lines.slice(since).filter((l) => l.includes(TOKEN)),
      [],
      "log lines holding the webhook token",
    );
  });

  for (const [what, paused] of [
    ["the node", { hookDisabled: true }],
    ["its tab", { tabDisabled: true }],
  ]) {
    it(`should disable the automations when ${what} is disabled, and enable the same ones again`, async function () {
      const before = states().map(([id]) => id);
      const { create, delete: deleted } = sim.automationsApi.counts;
      assert.deepEqual(await deployUntil(paused, false, `${what} disabled`), before);
      // A disabled automation sends nothing: no delivery to a node that is not there.
      assert.deepEqual(await deliverEach(), []);
      assert.deepEqual(await deployUntil({}, true, `${what} enabled again`), before);
      assert.deepEqual(
        [sim.automationsApi.counts.create, sim.automationsApi.counts.delete],
        [create, deleted],
        "an automation was created or deleted",
      );
      assert.deepEqual(await deliverEach(), [200, 200, 200]);
    });
  }

  it("should delete the automations when the node is deleted, and never log a token", async function () {
    const since = red.lines.length;
    await deployFlows(red, flow({ token: ROTATED, withHook: false }));
    await red.waitForLine(/deleted its Clarus automations/, { since });
    assert.deepEqual(ours(), []);
    assert.equal(sim.automationsApi.counts.delete, EVENTS.length);
    const tokens = new RegExp(`${TOKEN}|${ROTATED}`);
    const leaked = red.lines.filter((line) => tokens.test(line));
    assert.deepEqual(leaked, [], "log lines holding a webhook token");
    assert.deepEqual(
      red.lines.filter((line) => /\[error\]/.test(line)),
      [],
    );
  });

  it("should disable the automations when register is emptied, and delete them when the node is then deleted", async function () {
    await deployAndRegister();
    const registeredIds = states().map(([id]) => id);
    assert.equal(registeredIds.length, EVENTS.length);
    assert.deepEqual(await deployUntil({ register: [] }, false, "register emptied"), registeredIds);
    assert.deepEqual(await deliverEach(), []);
    const since = red.lines.length;
    await deployFlows(red, flow({ register: [], withHook: false }));
    await eventually(() => states().length === 0, {
      what: `the emptied node's automations deleted (now ${JSON.stringify(states())})`,
    });
    await red.waitForLine(/deleted its Clarus automations/, { since });
  });
});
