// Classification waits for the automation map, in the real Node-RED (red.js as a child process, the package linked
// into its user directory) with the Clarus simulator. A stock event's webhook body (the documented keys: no subtype)
// does not say which stock event it is; only its automation does. A delivery of an automation the map does not know
// yet (the first deploy, or one created since the last read) must wait for the map, or it is misrouted and its
// dedupe key differs from the poll's: the same event twice.
const assert = require("node:assert/strict");
const path = require("node:path");

const { startSimulator } = require("../../build/dev/sim/index.js");
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
const { TOKEN, connectionConfig, webhookConfig } = require("../helpers/fixtures");

const EVENT_LINE = /\[function:sink\] event (\{.*\})$/;
const POLL_DONE = /\[function:poll done\] poll run complete/;

describe("classification waits for the automation map, in the real Node-RED", function () {
  this.timeout(60_000);

  let tmp;
  let port;
  let red;
  let sim;

  /** The flow of test `n`: a connection and poll of its own, so no state of another test is read. */
  function flow(n) {
    const node = (id, type, x, y, props) => ({ id, type, z: "tab", x, y, ...props });
    return [
      { id: "tab", type: "tab", label: "discovery" },
      connectionConfig({
        id: `conn${n}`,
        name: "sim",
        subdomain: sim.subdomain,
        domain: sim.domain,
        apiUrl: sim.url,
        automations: [],
        credentials: { clientId: sim.clientId, clientSecret: sim.clientSecret, webhookToken: TOKEN },
      }),
      webhookConfig({ z: "tab", name: "webhooks", connection: `conn${n}`, x: 150, y: 80, wires: [["sink"]] }),
      node("run-poll", "inject", 130, 160, {
        name: "run poll",
        props: [{ p: "payload" }],
        payload: "",
        payloadType: "date",
        repeat: "",
        once: false,
        wires: [[`poll${n}`]],
      }),
      node(`poll${n}`, "clarus-poll", 330, 160, {
        name: "holds",
        connection: `conn${n}`,
        stream: "stock.transactions",
        intervalMinutes: 60,
        lookbackMinutes: 10,
        pageSize: 100,
        maxPages: 10,
        runOnStart: false,
        wires: [["sink"]],
      }),
      node("sink", "function", 560, 120, {
        name: "sink",
        func:
          'node.warn("event " + JSON.stringify({ source: msg.clarus.source, event: msg.topic, ' +
          "key: msg.clarus.dedupeKey }));\nreturn null;",
        outputs: 1,
        wires: [[]],
      }),
      node("on-poll-done", "complete", 330, 240, {
        scope: [`poll${n}`],
        uncaught: false,
        wires: [["poll-done"]],
      }),
      node("poll-done", "function", 560, 240, {
        name: "poll done",
        func: 'node.warn("poll run complete");\nreturn null;',
        outputs: 1,
        wires: [[]],
      }),
    ];
  }

  /** Resolves when the simulator has answered a read of the automations list. */
  function automationsRead() {
    return new Promise((resolve) => {
      const onRequest = (entry) => {
        if (entry.status !== 200 || !entry.roots?.includes("automations")) return;
        sim.off("request", onRequest);
        resolve(entry);
      };
      sim.on("request", onRequest);
    });
  }

  /** Runs the poll once through its inject node; resolves with the log index after its run. */
  async function runPoll() {
    const since = red.lines.length;
    const res = await request({ port, method: "POST", path: "/inject/run-poll" });
    assert.equal(res.status, 200, res.text);
    return (await red.waitForLine(POLL_DONE, { since })).index;
  }

  /** The event messages the flow received from log line `since` on. */
  function events(since, until = red.lines.length) {
    return red.lines
      .slice(since, until)
      .map((line) => EVENT_LINE.exec(line))
      .filter(Boolean)
      .map((match) => JSON.parse(match[1]));
  }

  before(async function () {
    tmp = makeTempDir("clarus-discovery-");
    const userDir = path.join(tmp, "userDir");
    linkPackage(userDir, { name: "clarus-discovery-test" });
    port = await freePort();
    writeSettings({ userDir, port, extra: { clarus: { timeoutMs: 5000 } } });
    red = await startNodeRed({ userDir, port });
  });

  afterEach(async function () {
    await sim?.stop();
    sim = undefined;
  });

  after(async function () {
    if (red) await red.kill();
    removeDir(tmp);
  });

  it("should classify a delivery of an automation created after the last read once, as the poll does", async function () {
    // Bodies as the Clarus docs list them for stock events: nothing in one says hold or adjustment.
    sim = await startSimulator({ history: 0, seed: 17, webhook: { bodies: "documented" } });
    const since = red.lines.length;
    const read = automationsRead();
    await deployFlows(red, flow(1));
    await read;
    // Created after deploy and after the connection read the automation map.
    const url = `http://127.0.0.1:${port}/clarus/events/${TOKEN}`;
    sim.addAutomation({ event: "stock.placed_on_hold", url });
    const [hold] = sim.generate(1, ["stock.placed_on_hold"]);
    await sim.flush();
    assert.deepEqual(
      sim.sent.map((delivery) => delivery.status),
      [200],
    );
    const done = await runPoll();
    const expected = `stock.placed_on_hold:${hold.recordId}`;
    assert.deepEqual(events(since, done), [
      { source: "webhook", event: "stock.placed_on_hold", key: expected },
    ]);
  });

  it("should classify a delivery that comes while the first read of the map is still running", async function () {
    sim = await startSimulator({ history: 0, seed: 18, webhook: { bodies: "documented" } });
    sim.addAutomation({
      event: "stock.placed_on_hold",
      url: `http://127.0.0.1:${port}/clarus/events/${TOKEN}`,
    });
    // Every API answer takes a while: the deploy's read of the map is still running when Clarus delivers.
    sim.setFaults({ slowMs: 400 });
    const since = red.lines.length;
    const read = automationsRead();
    await deployFlows(red, flow(2));
    const [hold] = sim.generate(1, ["stock.placed_on_hold"]);
    await sim.flush();
    await read;
    sim.clearFaults();
    assert.deepEqual(
      sim.sent.map((delivery) => delivery.status),
      [200],
    );
    const done = await runPoll();
    assert.deepEqual(events(since, done), [
      { source: "webhook", event: "stock.placed_on_hold", key: `stock.placed_on_hold:${hold.recordId}` },
    ]);
  });
});
