const assert = require("node:assert/strict");

const { startSimulator } = require("../build/dev/sim/index.js");
const { ClarusClient, ClarusApiError } = require("../build/nodes/lib/api/client.js");
const { fullJitterDelay, retryAfterMs, DEFAULT_RETRY } = require("../build/nodes/lib/api/backoff.js");

const STOCKS = `query Stocks($filter: StockFilterType, $first: Int, $after: String) {
  stocks { all(filter: $filter, first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id } } } }
}`;

describe("ClarusClient against the simulator", function () {
  let sim;
  beforeEach(async () => {
    sim = await startSimulator({ history: 0, seed: 3 });
  });
  afterEach(() => sim.stop());

  function client(options = {}) {
    return new ClarusClient({
      apiUrl: sim.url,
      subdomain: sim.subdomain,
      clientId: sim.clientId,
      clientSecret: sim.clientSecret,
      retry: { baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 20 },
      ...options,
    });
  }

  it("should fetch one token and reuse it", async function () {
    const api = client();
    const results = await Promise.all([api.graphql(STOCKS, { first: 2 }), api.graphql(STOCKS, { first: 2 })]);
    await api.graphql(STOCKS, { first: 2 });
    assert.equal(results[0].stocks.all.edges.length, 2);
    assert.equal(sim.requests.token, 1);
  });

  it("should send X-Clarus-Subdomain (the simulator refuses a request without it)", async function () {
    const api = client({ subdomain: "someone-else" });
    await assert.rejects(api.graphql(STOCKS, { first: 1 }), (error) => error instanceof ClarusApiError);
  });

  it("should refresh the token once on 401 and carry on", async function () {
    const api = client();
    await api.graphql(STOCKS, { first: 1 });
    sim.expireTokens();
    await api.graphql(STOCKS, { first: 1 });
    assert.equal(sim.requests.token, 2);
  });

  it("should not loop when a static token is refused", async function () {
    const api = client({ clientId: undefined, clientSecret: undefined, accessToken: "not-a-valid-token" });
    await assert.rejects(api.graphql(STOCKS), (error) => {
      assert.equal(error.kind, "auth");
      assert.equal(error.status, 401);
      assert.ok(!error.message.includes("not-a-valid-token"));
      return true;
    });
    assert.equal(sim.requests.token, 0);
  });

  it("should fail wrong client credentials without naming the secret", async function () {
    const api = client({ clientSecret: "wrong-secret-value" });
    await assert.rejects(api.graphql(STOCKS), (error) => {
      assert.equal(error.kind, "auth");
      assert.ok(
        !JSON.stringify({ message: error.message, stack: error.stack }).includes("wrong-secret-value"),
      );
      return true;
    });
  });

  it("should retry 5xx with capped jittered backoff and give up after maxAttempts", async function () {
    const delays = [];
    const api = client({ retry: { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 4 } });
    await api.graphql(STOCKS, { first: 1 }); // token first, so only GraphQL requests fail below
    sim.setFaults({ error5xx: 1 });
    const before = sim.requests.graphql;
    await assert.rejects(
      api.graphql(STOCKS, { first: 1 }, { onRetry: (info) => delays.push(info.delayMs) }),
      /gave up after 4 attempts/,
    );
    assert.equal(sim.requests.graphql - before, 4);
    assert.equal(delays.length, 3);
    delays.forEach((ms, i) => assert.ok(ms >= 0 && ms <= Math.min(20, 5 * 2 ** i), `delay ${i}: ${ms}`));
  });

  it("should wait as long as Retry-After asks on 429 (up to its cap)", async function () {
    const delays = [];
    const api = client({ retry: { maxRetryAfterMs: 10_000 } });
    await api.graphql(STOCKS, { first: 1 });
    sim.setFaults({ rateLimit: 1, retryAfterSeconds: 1 });
    const call = api.graphql(
      STOCKS,
      { first: 1 },
      {
        onRetry: (info) => {
          delays.push(info.delayMs);
          sim.clearFaults();
        },
      },
    );
    await call;
    assert.deepEqual(delays, [1000]);
  });

  it("should treat GraphQL errors as failure even with HTTP 200 and partial data", async function () {
    const api = client();
    sim.setFaults({ partialData: 1 });
    await assert.rejects(api.graphql(STOCKS, { first: 5 }), (error) => {
      assert.equal(error.kind, "graphql");
      assert.equal(error.status, 200);
      assert.ok(error.graphqlErrors.length > 0);
      assert.ok(error.data, "the partial data is kept for the caller");
      return true;
    });
  });

  it("should time out a hung request and retry it", async function () {
    const api = client({ timeoutMs: 100, retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 2 } });
    await api.graphql(STOCKS, { first: 1 });
    sim.setFaults({ hang: true });
    await assert.rejects(api.graphql(STOCKS, { first: 1 }), (error) => {
      assert.equal(error.kind, "timeout");
      assert.match(error.message, /gave up after 2 attempts/);
      return true;
    });
  });

  it("should stop at once when its signal aborts", async function () {
    const api = client();
    await api.graphql(STOCKS, { first: 1 });
    sim.setFaults({ hang: true });
    const controller = new AbortController();
    const call = api.graphql(STOCKS, {}, { signal: controller.signal });
    controller.abort(new Error("closing"));
    await assert.rejects(call, /closing/);
  });

  it("should refuse to be built without credentials", function () {
    assert.throws(() => new ClarusClient({ apiUrl: sim.url, subdomain: "acme" }), /no API credentials/);
  });
});

describe("backoff", function () {
  it("should keep full-jitter delays between zero and the capped exponential step", function () {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(DEFAULT_RETRY.maxDelayMs, DEFAULT_RETRY.baseDelayMs * 2 ** attempt);
      assert.equal(
        fullJitterDelay(attempt, DEFAULT_RETRY, () => 0),
        0,
      );
      assert.equal(
        fullJitterDelay(attempt, DEFAULT_RETRY, () => 0.999999),
        Math.floor(0.999999 * ceiling),
      );
    }
  });

  it("should read Retry-After as seconds or as an HTTP date", function () {
    assert.equal(retryAfterMs("3"), 3000);
    assert.equal(
      retryAfterMs("Wed, 21 Oct 2026 07:28:10 GMT", Date.parse("Wed, 21 Oct 2026 07:28:00 GMT")),
      10_000,
    );
    assert.equal(retryAfterMs("soon"), undefined);
    assert.equal(retryAfterMs(undefined), undefined);
  });
});
