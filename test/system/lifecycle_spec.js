// The package's state through what users do to a running installation every day, in a real Node-RED from the
// packed tarball: disabling and enabling each node type, its flow tab and its connection (with each deploy
// type), redeploying with each deploy type, and restarting. Whatever happens, the poll's watermark is kept, a
// repeat of a delivered event stays a duplicate, pending events stay pending (and are sent again at once only by
// a new process), the same Clarus automations (same ids) serve the node, and no event is lost or doubled.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const { startSimulator } = require("../../build/dev/sim/index.js");
const { simHeaders } = require("../helpers/clarus-sim");
const { eventually } = require("../helpers/eventually");
const { TOKEN } = require("../helpers/fixtures");
const { fileRecorder, readLines, waitForFile } = require("../helpers/output-file");
const { RedInstances } = require("../helpers/red-instances");
const { deployFlows, request } = require("../helpers/red-process");

const TAB = "lifecycle-tab";
const HOOK_PATH = "/clarus/lifecycle";
/** The events the poll of stock transactions also finds: none is lost while the webhook-in is paused. */
const STOCK_EVENTS = [
  "stock.positively_adjusted",
  "stock.negatively_adjusted",
  "stock.placed_on_hold",
  "stock.released_from_hold",
];
/** Never confirmed in this flow: its events stay pending in the inbox. */
const UNCONFIRMED = "stock.negatively_adjusted";
const REGISTERED = /\[clarus-webhook-in:hook\] registered with Clarus/;
const DEPLOY_TYPES = ["full", "flows", "nodes"];

/**
 * webhook-in and a poll of stock transactions (run at once by an inject node) → clarus-event filter: the
 * confirmed events are recorded, then clarus-confirm; the UNCONFIRMED ones are recorded and left pending. A
 * clarus-graphql node stands by. `disabled` names what is disabled: a node id, "tab" or "conn".
 */
function lifecycleFlows({ port, sim, output, disabled, connectionName = "tenant", withCredentials }) {
  const record = (source) =>
    `msg.payload = JSON.stringify({ line: ${JSON.stringify(source)}, key: msg.clarus.dedupeKey, ` +
    "event: msg.topic, source: msg.clarus.source, attempt: msg.clarus.attempt || 1, " +
    'automationId: msg.clarus.automationId || null, body: msg.clarus.source === "webhook" ? msg.payload : null });\n' +
    "return msg;";
  const node = (id, type, props) => ({ id, type, z: TAB, ...(disabled === id ? { d: true } : {}), ...props });
  return [
    { id: TAB, type: "tab", label: "lifecycle", disabled: disabled === "tab" },
    {
      id: "conn",
      type: "clarus-connection",
      name: connectionName,
      subdomain: sim.subdomain,
      domain: sim.domain,
      apiUrl: sim.url,
      publicUrl: `http://127.0.0.1:${port}`,
      automations: [],
      dedupeHours: 72,
      dedupeCapacity: 10000,
      delivery: "on-confirm",
      redeliverSeconds: 3600,
      maxAttempts: 10,
      ...(disabled === "conn" ? { d: true } : {}),
      // Sent with the first deploy only, as the editor does: a node deployed with credentials counts as changed.
      ...(withCredentials
        ? { credentials: { clientId: sim.clientId, clientSecret: sim.clientSecret, webhookToken: TOKEN } }
        : {}),
    },
    node("hook", "clarus-webhook-in", {
      connection: "conn",
      path: HOOK_PATH,
      method: "POST",
      event: "auto",
      requireToken: true,
      register: STOCK_EVENTS,
      x: 140,
      y: 80,
      wires: [["pick"]],
    }),
    node("poll-now", "inject", {
      name: "poll now",
      props: [{ p: "payload" }],
      payload: "",
      payloadType: "date",
      once: false,
      x: 120,
      y: 160,
      wires: [["poll"]],
    }),
    node("poll", "clarus-poll", {
      connection: "conn",
      stream: "stock.transactions",
      intervalMinutes: 60,
      lookbackMinutes: 10,
      pageSize: 100,
      maxPages: 100,
      runOnStart: true,
      x: 300,
      y: 160,
      wires: [["pick"]],
    }),
    node("pick", "clarus-event", {
      events: STOCK_EVENTS.filter((event) => event !== UNCONFIRMED),
      otherOutput: true,
      x: 460,
      y: 120,
      wires: [["done-line"], ["pending-line"]],
    }),
    ...fileRecorder({
      id: "done-line",
      z: TAB,
      file: output,
      func: record("done"),
      y: 80,
      next: ["confirm"],
    }),
    ...fileRecorder({ id: "pending-line", z: TAB, file: output, func: record("pending"), y: 160 }),
    node("confirm", "clarus-confirm", { action: "confirm", retrySeconds: 60, x: 920, y: 80, wires: [[]] }),
    node("gql", "clarus-graphql", {
      connection: "conn",
      query: "query { automations { all(first: 1) { edges { node { id } } } } }",
      allPages: false,
      maxPages: 1,
      x: 300,
      y: 240,
      wires: [[]],
    }),
  ];
}

/** The inbox file's pending keys (put, and neither done nor dead), replayed as the file store reads it. */
function pendingKeys(userDir) {
  const file = path.join(userDir, "clarus", "inbox-conn.log");
  const pending = new Set();
  for (const line of readLines(file)) {
    let record;
    try {
      record = JSON.parse(line);
    } catch {
      continue;
    }
    if (record.put) pending.add(record.put.key);
    else if (record.done) pending.delete(record.done);
    else if (record.dead) pending.delete(record.dead[0]);
  }
  return pending;
}

function watermarkOf(userDir) {
  const file = path.join(userDir, "clarus", "poll-poll.json");
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, "utf8")).watermark;
}

describe("lifecycle: disable, enable, redeploy and restart keep every node's state (the packed package)", function () {
  this.timeout(180_000);

  const instances = new RedInstances();
  let sim;
  let red;
  let userDir;
  let output;
  /** Keys generated so far, by kind. */
  const generated = new Map();
  let connectionName = "tenant";
  /** How many restarts each key was pending at: the sends it may have on top of its first. */
  const resends = new Map();

  const lines = () => readLines(output, JSON.parse);

  function ourAutomations() {
    return sim.store.automations
      .all()
      .filter((a) => a.name.startsWith("node-red-clarus hook "))
      .map((a) => ({ id: a.id, enabled: a.enabled }))
      .sort((a, b) => a.id - b.id);
  }

  /** Deploys; resolves once the flows run and, when the webhook-in started again, it has registered. */
  async function deploy({ disabled, type = "full", hookStarts = true, withCredentials = false } = {}) {
    const since = red.lines.length;
    const flows = lifecycleFlows({ port: red.port, sim, output, disabled, connectionName, withCredentials });
    await deployFlows(red, flows, { deploymentType: type });
    if (hookStarts && disabled !== "hook" && disabled !== "tab" && disabled !== "conn") {
      await red.waitForLine(REGISTERED, { since });
    }
  }

  /** One event of each stock kind, delivered by the simulator (to whatever answers now). */
  async function generateStockEvents() {
    const events = [];
    for (const kind of STOCK_EVENTS) events.push(...sim.generate(1, [kind]));
    await sim.flush();
    for (const event of events) generated.set(`${event.event}:${event.recordId}`, event.event);
    return events;
  }

  /** Runs the poll now (its inject node), so what the webhook missed meanwhile is read. */
  async function pollNow() {
    const res = await request({ port: red.port, method: "POST", path: "/inject/poll-now" });
    assert.equal(res.status, 200, res.text);
  }

  /** Every generated event is in the output once (first attempt) or still pending; none is lost. */
  async function everyEventAccountedFor() {
    const missing = () => {
      const seen = new Set(lines().map((l) => l.key));
      const pending = pendingKeys(userDir);
      return [...generated.keys()].filter((key) => !seen.has(key) && !pending.has(key));
    };
    // Two files move (the output, the inbox): asked again until both agree, bounded.
    await eventually(() => missing().length === 0, {
      timeoutMs: 30_000,
      what: "every generated event in the output or pending",
    }).catch((error) => {
      throw new Error(`${error.message}; missing: ${missing().join(", ")}`);
    });
  }

  function keysInOutput() {
    return new Set(lines().map((l) => l.key));
  }

  function sendCounts() {
    const counts = new Map();
    for (const line of lines()) counts.set(line.key, (counts.get(line.key) ?? 0) + 1);
    return counts;
  }

  /** What a pause, a redeploy or a restart must leave as it was. */
  function snapshot() {
    return {
      watermark: watermarkOf(userDir),
      pending: pendingKeys(userDir),
      automations: ourAutomations(),
      sends: sendCounts(),
    };
  }

  /** The state after: the same automations (enabled), the watermark kept, pending kept, nothing doubled. */
  async function assertKept(before) {
    const after = snapshot();
    assert.deepEqual(
      after.automations,
      before.automations.map((a) => ({ ...a, enabled: true })),
      "the same automations, enabled",
    );
    assert.ok(after.watermark !== undefined, "the poll's watermark is kept");
    // The API's clock is read from its Date header, in whole seconds less the request's time, so two runs in
    // one second may place it a few ms apart; a reset would take it back to the lookback window or remove it.
    assert.ok(
      Date.parse(after.watermark) > Date.parse(before.watermark) - 1000,
      `watermark ${after.watermark} went back from ${before.watermark}`,
    );
    // A pending event leaves the inbox only through clarus-confirm, after it was recorded; the never
    // confirmed kind never leaves it.
    const inOutput = keysInOutput();
    const lost = [...before.pending].filter(
      (key) => !after.pending.has(key) && (generated.get(key) === UNCONFIRMED || !inOutput.has(key)),
    );
    assert.deepEqual(lost, [], "pending events gone from the inbox without being confirmed");
    // Once each, and once more for each restart it was pending at. (An event a node admitted as it closed is
    // sent by the inbox instead, counted as a second attempt: still once.)
    const doubled = [...sendCounts()]
      .filter(([key, n]) => n > 1 + (resends.get(key) ?? 0))
      .map(([key, n]) => `${key} sent ${n} times`);
    assert.deepEqual(doubled, [], "events that entered the flow twice");
    // A Clarus retry of an event delivered before is still a duplicate.
    const delivered = lines().filter((l) => l.source === "webhook" && l.body);
    const last = delivered[delivered.length - 1];
    assert.ok(last, "some event came by webhook");
    const res = await fetch(`http://127.0.0.1:${red.port}${HOOK_PATH}/${TOKEN}`, {
      method: "POST",
      headers: simHeaders(sim, last.automationId),
      body: JSON.stringify(last.body),
    });
    assert.deepEqual([res.status, await res.json()], [200, { ok: true, duplicate: true }]);
  }

  before(async function () {
    this.timeout(300_000);
    sim = await startSimulator({ history: 0, seed: 17, webhook: { dropRate: 0, repeatRate: 0 } });
    [red] = await instances.start({ count: 1 });
    userDir = instances.userDirs[0];
    output = path.join(instances.root, "output", "events.jsonl");
    await deploy({ withCredentials: true });
    await generateStockEvents();
    await everyEventAccountedFor();
    assert.equal(ourAutomations().length, STOCK_EVENTS.length);
    assert.ok(pendingKeys(userDir).size > 0, "an unconfirmed event is pending");
    assert.ok(watermarkOf(userDir), "the poll has a watermark");
  });

  after(async function () {
    await instances.dispose();
    if (sim) await sim.stop();
  });

  for (const target of ["hook", "poll", "pick", "confirm", "gql", "tab", "conn"]) {
    for (const type of DEPLOY_TYPES) {
      it(`should keep everything when ${target === "tab" || target === "conn" ? `the ${target}` : `node ${target}`} is disabled and enabled again (${type} deploys)`, async function () {
        const before = snapshot();
        await deploy({ disabled: target, type, hookStarts: false });
        if (target === "hook" || target === "tab" || target === "conn") {
          assert.deepEqual(
            ourAutomations(),
            before.automations.map((a) => ({ ...a, enabled: false })),
            "a paused webhook-in's automations are disabled, not deleted",
          );
        }
        await generateStockEvents();
        const pausedPending = pendingKeys(userDir);
        // A full deploy starts every node; a flows deploy the changed nodes and those wired to them; a nodes
        // deploy the changed nodes and the users of a changed config node.
        const hookStarts =
          type === "full" ||
          ["hook", "tab", "conn"].includes(target) ||
          (type === "flows" && target !== "gql");
        await deploy({ type, hookStarts });
        const pendingNow = pendingKeys(userDir);
        const inOutput = keysInOutput();
        assert.deepEqual(
          [...pausedPending].filter((key) => !pendingNow.has(key) && !inOutput.has(key)),
          [],
          "events pending while paused were lost on enable",
        );
        await pollNow();
        await everyEventAccountedFor();
        await assertKept(before);
      });
    }
  }

  for (const type of DEPLOY_TYPES) {
    it(`should keep everything through a ${type} deploy that changes only the connection's name`, async function () {
      const before = snapshot();
      connectionName = connectionName === "tenant" ? "tenant (renamed)" : "tenant";
      await deploy({ type });
      await generateStockEvents();
      await pollNow();
      await everyEventAccountedFor();
      await assertKept(before);
    });
  }

  it("should keep everything through a restart, and send each pending event again once, at once", async function () {
    // Read once the old process has stopped: a confirmation is written a moment after its event was recorded,
    // and the stop writes what is still on its way; read before, the file could show such an event as pending.
    let before;
    red = await instances.restart(0, { whileStopped: () => (before = snapshot()) });
    assert.ok(before.pending.size > 0, "something is pending before the restart");
    const since = 0;
    await red.waitForLine(REGISTERED, { since });
    await waitForFile(
      output,
      lines,
      (all) =>
        [...before.pending].every(
          (key) => all.filter((l) => l.key === key).length > (before.sends.get(key) ?? 0),
        ),
      { what: "every pending event sent again after the restart" },
    );
    const sends = sendCounts();
    assert.deepEqual(
      [...before.pending].filter((key) => sends.get(key) !== (before.sends.get(key) ?? 0) + 1),
      [],
      "pending events not sent again exactly once",
    );
    for (const key of before.pending) resends.set(key, (resends.get(key) ?? 0) + 1);
    await generateStockEvents();
    await pollNow();
    await everyEventAccountedFor();
    await assertKept(before);
  });
});
