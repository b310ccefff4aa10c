// Runs our nodes against the Clarus simulator: a webhook-in on a real loopback port, poll nodes, and a
// sink that records every event message, whatever its source.
const http = require("node:http");
const path = require("node:path");

const { startSimulator, ALL_SIM_EVENTS } = require("../../build/dev/sim/index.js");
const { helper, connectionNode, capturingWebhookNode, TOKEN, collect } = require("./node-red");

const build = path.join(__dirname, "..", "..", "build", "nodes");
const pollNode = require(path.join(build, "clarus-poll.js"));
const graphqlNode = require(path.join(build, "clarus-graphql.js"));

/** Fast retries so fault tests take seconds; the policy itself is what is under test. */
const TEST_TUNING = {
  timeoutMs: 2000,
  retry: { baseDelayMs: 5, maxDelayMs: 50, maxRetryAfterMs: 50, maxAttempts: 6 },
};

const POLL_STREAMS = ["goods_out.completed", "goods_in.completed", "stock.transactions"];
const POLL_IDS = POLL_STREAMS.map((_stream, i) => `poll${i}`);

async function listen(app) {
  const server = http.createServer(app);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

function connectionFor(sim, automations, overrides = {}) {
  return {
    id: "conn",
    type: "clarus-connection",
    subdomain: sim.subdomain,
    domain: sim.domain,
    apiUrl: sim.url,
    automations,
    dedupeHours: 72,
    dedupeCapacity: 100000,
    ...overrides,
  };
}

function pollConfig(id, stream, overrides = {}) {
  return {
    id,
    type: "clarus-poll",
    connection: "conn",
    stream,
    intervalMinutes: 60,
    lookbackMinutes: 10,
    pageSize: 25,
    maxPages: 1000,
    runOnStart: false,
    wires: [["out"]],
    ...overrides,
  };
}

/**
 * A warehouse: the simulator with one automation per event pointing at our webhook-in, and a flow of
 * webhook-in plus one poll per stream, all into `out`. Completion and errors of polls are observed with
 * core complete and catch nodes, never by waiting. `extra`: more node modules and flow nodes to load with them.
 */
async function startWarehouse({
  webhook = {},
  faults,
  userDir,
  settings = {},
  seed = 7,
  pollOverrides = {},
  schema = "rich",
  simOptions = {},
  connection = {},
  credentials = {},
  extra = { nodes: [], flow: [] },
} = {}) {
  const sim = await startSimulator({ history: 0, seed, webhook, schema, ...simOptions });
  let app;
  // One server for the whole test; it forwards to whichever HTTP node app the current load created.
  const server = await listen((req, res) => app(req, res));
  const url = `http://127.0.0.1:${server.address().port}/clarus/events/${TOKEN}`;
  const automations = ALL_SIM_EVENTS.map((event) => ({
    id: String(sim.addAutomation({ event, url })),
    event,
  }));
  let barriers = 0;
  const warehouse = {
    sim,
    url,
    /** The simulator's automations, one per event, all posting to `url`. */
    automations,
    get app() {
      return app;
    },
    out: undefined,
    completed: undefined,
    caught: undefined,
    /** Where the connection sends API requests: the simulator, or a proxy in front of it. */
    apiUrl: sim.url,
    async load() {
      helper.settings({ clarus: TEST_TUNING, ...(userDir ? { userDir } : {}), ...settings });
      const flow = [
        connectionFor(sim, automations, { apiUrl: warehouse.apiUrl, ...connection }),
        {
          id: "hook",
          type: "clarus-webhook-in",
          connection: "conn",
          path: "/clarus/events",
          method: "POST",
          event: "auto",
          requireToken: true,
          maxBytes: 1048576,
          dedupe: true,
          wires: [["out"]],
        },
        ...POLL_STREAMS.map((stream, i) => pollConfig(`poll${i}`, stream, pollOverrides)),
        { id: "out", type: "helper" },
        { id: "on-complete", type: "complete", scope: POLL_IDS, wires: [["completed"]] },
        { id: "on-catch", type: "catch", scope: POLL_IDS, wires: [["caught"]] },
        { id: "completed", type: "helper" },
        { id: "caught", type: "helper" },
        ...extra.flow,
      ];
      await helper.load(
        [connectionNode, capturingWebhookNode((httpNode) => (app = httpNode)), pollNode, ...extra.nodes],
        flow,
        {
          conn: {
            webhookToken: TOKEN,
            clientId: sim.clientId,
            clientSecret: sim.clientSecret,
            ...credentials,
          },
        },
      );
      warehouse.out = collect(helper.getNode("out"));
      warehouse.completed = collect(helper.getNode("completed"));
      warehouse.caught = collect(helper.getNode("caught"));
      if (faults) sim.setFaults(faults);
      return warehouse;
    },
    /**
     * Runs each poll, one at a time, and runs it again while its run fails (a failed run keeps its
     * watermark, so the retry reads the same window). Resolves with the most attempts any poll needed.
     */
    async pollUntilClean(maxAttempts = 30) {
      let most = 0;
      for (const id of POLL_IDS) {
        for (let attempt = 1; ; attempt++) {
          if (attempt > maxAttempts) throw new Error(`${id} still failing after ${maxAttempts} attempts`);
          const completed = warehouse.completed.received.length;
          const failed = warehouse.caught.received.length;
          helper.getNode(id).receive({ payload: "run" });
          // Each input ends in exactly one of complete or catch.
          await waitUntil(
            [warehouse.completed, warehouse.caught],
            () => warehouse.completed.received.length + warehouse.caught.received.length > completed + failed,
          );
          if (warehouse.caught.received.length === failed) {
            most = Math.max(most, attempt);
            break;
          }
        }
      }
      return most;
    },
    /** Posts `body` to the webhook-in node as Clarus would from automation `automationId`. */
    deliver(automationId, body) {
      return fetch(url, {
        method: "POST",
        headers: simHeaders(sim, automationId),
        body: JSON.stringify(body),
      });
    },
    /** Runs one poll once; resolves when it completed, rejects with the error a Catch node got. */
    async runOnce(id, msg = {}) {
      const completed = warehouse.completed.received.length;
      const failed = warehouse.caught.received.length;
      helper.getNode(id).receive({ payload: "run", ...msg });
      await waitUntil(
        [warehouse.completed, warehouse.caught],
        () => warehouse.completed.received.length + warehouse.caught.received.length > completed + failed,
      );
      const caught = warehouse.caught.received[failed];
      if (caught) throw new Error(caught.error.message);
    },
    /**
     * Waits for `count` messages, then proves nothing else is on its way: a barrier delivery sent now
     * must be the very next message (Node-RED delivers in send order). Returns the messages before it.
     */
    async settle(count) {
      await warehouse.out.waitFor(count);
      barriers++;
      const goodsOut = automations.find((a) => a.event === "goods_out.completed");
      const response = await warehouse.deliver(goodsOut.id, {
        id: `barrier-${barriers}`,
        goods_out_status_id: 6,
      });
      if (response.status !== 200) throw new Error(`barrier answered ${response.status}`);
      const received = await warehouse.out.waitFor(count + 1);
      if (received.length !== count + 1 || received[count].payload.id !== `barrier-${barriers}`) {
        throw new Error(`expected ${count} messages before the barrier, got ${received.length - 1}`);
      }
      return received.splice(count, 1) && received.slice(0, count);
    },
    async stop() {
      await helper.unload();
      await new Promise((resolve) => server.close(resolve));
      await sim.stop();
    },
  };
  return warehouse;
}

/** The headers of a JSON webhook from the simulated tenant, as its automation `automationId` sends them. */
function simHeaders(sim, automationId) {
  return {
    "Content-Type": "application/json",
    "X-ClarusWMS-Domain": sim.domain,
    "X-ClarusWMS-API-Domain": sim.url,
    "X-ClarusWMS-Subdomain": sim.subdomain,
    "X-ClarusWMS-Automation-ID": String(automationId),
  };
}

/** Resolves when `done()` holds, re-checking whenever one of the collectors receives a message. */
async function waitUntil(collectors, done) {
  while (!done()) {
    await Promise.race(collectors.map((c) => c.waitFor(c.received.length + 1)));
  }
}

/** The key each generated event must arrive under, exactly once. */
function expectedKey(simEvent) {
  return `${simEvent.event}:${simEvent.recordId}`;
}

module.exports = {
  POLL_IDS,
  waitUntil,
  startWarehouse,
  expectedKey,
  pollConfig,
  connectionFor,
  simHeaders,
  TEST_TUNING,
  POLL_STREAMS,
  listen,
  graphqlNode,
  pollNode,
  startSimulator,
};
