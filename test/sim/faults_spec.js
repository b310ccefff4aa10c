const assert = require("node:assert/strict");

const { SIM, fetchToken, gql } = require("./helpers");

const QUERY =
  "{ stocks { all(first: 3) { pageInfo { hasNextPage } edges { cursor node { id quantity } } } } }";

describe("clarus simulator: API fault injection", function () {
  let sim;
  let token;

  beforeEach(async function () {
    sim = await SIM.startSimulator({ seed: 21 });
    token = sim.issueToken();
  });

  afterEach(() => sim.stop());

  const burst = async (n) => {
    const answers = [];
    for (let i = 0; i < n; i++) answers.push(await gql(sim, token, QUERY));
    return answers;
  };
  const near = (count, expected, slack, what) =>
    assert.ok(Math.abs(count - expected) <= slack, `${what}: ${count}, expected about ${expected}`);

  it("should answer 500/502/503 with a non-GraphQL body at the error5xx share", async function () {
    sim.setFaults({ error5xx: 0.3 });
    const answers = await burst(300);
    const failed = answers.filter((a) => a.status >= 500);
    near(failed.length, 90, 30, "5xx answers");
    assert.deepEqual([...new Set(failed.map((a) => a.status))].sort(), [500, 502, 503]);
    for (const a of failed) {
      assert.equal(typeof a.body, "string");
      assert.match(a.body, /<html>/);
    }
    assert.ok(answers.filter((a) => a.status === 200).every((a) => a.body.data.stocks));
    assert.equal(sim.faultCounts.error5xx, failed.length);
  });

  it("should answer 429 with the configured Retry-After at the rateLimit share", async function () {
    sim.setFaults({ rateLimit: 0.25, retryAfterSeconds: 7 });
    const answers = await burst(200);
    const limited = answers.filter((a) => a.status === 429);
    near(limited.length, 50, 20, "429 answers");
    for (const a of limited) assert.equal(a.headers.get("retry-after"), "7");
    assert.equal(sim.faultCounts.rateLimit, limited.length);
  });

  it("should answer HTTP 200 with errors and data null at the graphqlErrors share", async function () {
    sim.setFaults({ graphqlErrors: 0.2 });
    const answers = await burst(200);
    const broken = answers.filter((a) => a.body.errors);
    near(broken.length, 40, 18, "GraphQL error answers");
    for (const a of broken) {
      assert.equal(a.status, 200);
      assert.equal(a.body.data, null);
      assert.equal(typeof a.body.errors[0].message, "string");
    }
    assert.equal(sim.faultCounts.graphqlErrors, broken.length);
  });

  it("should answer HTTP 200 with some data and an error at the partialData share", async function () {
    sim.setFaults({ partialData: 0.2 });
    const answers = await burst(200);
    const partial = answers.filter((a) => a.body.errors);
    near(partial.length, 40, 18, "partial answers");
    for (const a of partial) {
      assert.equal(a.status, 200);
      const edges = a.body.data.stocks.all.edges;
      assert.equal(edges.length, 3);
      assert.notEqual(edges[0].node, null);
      assert.equal(edges[2].node, null);
      assert.deepEqual(a.body.errors[0].path, ["stocks", "all", "edges", 2, "node"]);
    }
    assert.equal(sim.faultCounts.partialData, partial.length);
  });

  it("should answer 408 Request Timeout at the requestTimeout share", async function () {
    sim.setFaults({ requestTimeout: 0.25 });
    const answers = await burst(200);
    const timedOut = answers.filter((a) => a.status === 408);
    near(timedOut.length, 50, 20, "408 answers");
    assert.ok(answers.every((a) => a.status === 408 || a.status === 200));
    assert.equal(sim.faultCounts.requestTimeout, timedOut.length);
    assert.throws(() => sim.setFaults({ requestTimeout: 0.6, rateLimit: 0.6 }), RangeError);
  });

  it("should keep exclusive faults at their own shares when combined", async function () {
    sim.setFaults({ error5xx: 0.2, rateLimit: 0.2, graphqlErrors: 0.1 });
    const answers = await burst(400);
    near(answers.filter((a) => a.status >= 500).length, 80, 25, "5xx");
    near(answers.filter((a) => a.status === 429).length, 80, 25, "429");
    near(answers.filter((a) => a.status === 200 && a.body.errors).length, 40, 18, "GraphQL errors");
    assert.throws(() => sim.setFaults({ error5xx: 0.7, rateLimit: 0.7 }), RangeError);
    assert.throws(() => sim.setFaults({ graphqlErrors: -0.1 }), RangeError);
  });

  it("should replay the same faults with the same seed", async function () {
    const statuses = async (s) => {
      s.setFaults({ error5xx: 0.3, rateLimit: 0.2 });
      const t = s.issueToken();
      const out = [];
      for (let i = 0; i < 50; i++) out.push((await gql(s, t, QUERY)).status);
      return out;
    };
    const other = await SIM.startSimulator({ seed: 21 });
    try {
      assert.deepEqual(await statuses(sim), await statuses(other));
    } finally {
      await other.stop();
    }
  });

  it("should delay answers by slowMs, at the slowRate share", async function () {
    sim.setFaults({ slowMs: 150 });
    const started = Date.now();
    assert.equal((await gql(sim, token, QUERY)).status, 200);
    assert.ok(Date.now() - started >= 140, "answered after the delay");
    sim.setFaults({ slowMs: [0, 2], slowRate: 0.5 });
    const before = sim.faultCounts.slow;
    await burst(100);
    near(sim.faultCounts.slow - before, 50, 18, "slow answers");
  });

  it("should hold requests while hang is set and answer them once cleared", async function () {
    sim.setFaults({ hang: true });
    const held = new Promise((resolve) => sim.once("hang", resolve));
    const pending = gql(sim, token, QUERY);
    await held;
    assert.equal(sim.faultCounts.hang, 1);
    let settled = false;
    pending.finally(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false);
    sim.clearFaults();
    const answer = await pending;
    assert.equal(answer.status, 200);
    assert.ok(answer.body.data.stocks);
  });

  it("should drop hung requests when the simulator stops", async function () {
    sim.setFaults({ hang: true });
    const held = new Promise((resolve) => sim.once("hang", resolve));
    const pending = gql(sim, token, QUERY).then(
      () => "answered",
      () => "failed",
    );
    await held;
    await sim.stop();
    assert.equal(await pending, "failed");
  });

  it("should drop slowed requests when the simulator stops, without waiting for the delay", async function () {
    sim.setFaults({ slowMs: 60_000 });
    const slowed = new Promise((resolve) => sim.once("fault", resolve));
    const pending = gql(sim, token, QUERY).then(
      () => "answered",
      () => "failed",
    );
    assert.equal((await slowed).kind, "slow");
    await sim.stop();
    assert.equal(await pending, "failed");
  });

  it("should leave the token endpoint alone unless applyToToken is set", async function () {
    sim.setFaults({ error5xx: 1 });
    assert.ok(await fetchToken(sim));
    sim.setFaults({ error5xx: 1, applyToToken: true });
    await assert.rejects(fetchToken(sim), /answered 5\d\d/);
    sim.clearFaults();
    assert.ok(await fetchToken(sim));
    assert.equal((await gql(sim, token, QUERY)).status, 200);
  });

  it("should record what fired in requestLog and emit 'fault'", async function () {
    const kinds = [];
    sim.on("fault", (f) => kinds.push(f.kind));
    sim.setFaults({ rateLimit: 1 });
    await gql(sim, token, QUERY, { first: 1 });
    assert.deepEqual(kinds, ["rateLimit"]);
    const last = sim.requestLog[sim.requestLog.length - 1];
    assert.equal(last.status, 429);
    assert.equal(last.fault, "rateLimit");
  });
});
