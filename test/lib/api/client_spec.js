const assert = require("node:assert/strict");

const { once } = require("node:events");

const { startSimulator } = require("../../../build/dev/sim/index.js");
const { ClarusClient, ClarusApiError } = require("../../../build/nodes/lib/api/client.js");
const { fullJitterDelay, retryAfterMs, DEFAULT_RETRY } = require("../../../build/nodes/lib/api/backoff.js");
const { freePort } = require("../../helpers/red-process");
const { startLoopbackApi, json } = require("../../helpers/loopback-api");

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
    await assert.rejects(api.graphql(STOCKS, { first: 1 }), (error) => {
      assert.ok(error instanceof ClarusApiError);
      assert.equal(error.status, 403);
      assert.equal(error.reason, "subdomain");
      assert.match(error.message, /does not know the subdomain "someone-else"/);
      return true;
    });
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
      assert.equal(error.reason, "credentials");
      assert.ok(
        !JSON.stringify({ message: error.message, stack: error.stack }).includes("wrong-secret-value"),
      );
      return true;
    });
  });

  it("should ask for a new token on refreshToken, though one is held, and use it from then on", async function () {
    const api = client();
    await api.graphql(STOCKS, { first: 1 });
    await api.refreshToken();
    assert.equal(sim.requests.token, 2);
    sim.expireTokens(); // only tokens issued so far: the next one is not refused
    await api.refreshToken();
    await api.graphql(STOCKS, { first: 1 });
    assert.equal(sim.requests.token, 3, "the refreshed token is the one the calls use");
  });

  it("should fail refreshToken after one attempt, keeping the token it held", async function () {
    const api = client({ retry: { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 4 } });
    await api.graphql(STOCKS, { first: 1 });
    sim.setFaults({ error5xx: 1, applyToToken: true });
    await assert.rejects(api.refreshToken(), (error) => {
      assert.match(error.message, /^Clarus API answered HTTP 50\d$/);
      return true;
    });
    assert.equal(sim.requests.token, 2, "one attempt, no retries");
    sim.clearFaults();
    await api.graphql(STOCKS, { first: 1 });
    assert.equal(sim.requests.token, 2, "the token held before still serves");
  });

  it("should have nothing to refresh with a pasted access token", async function () {
    const api = client({ clientId: undefined, clientSecret: undefined, accessToken: "a-pasted-token" });
    await api.refreshToken();
    assert.equal(sim.requests.token, 0);
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
      assert.equal(error.reason, "timeout");
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

describe("ClarusClient retries of mutations", function () {
  const MUTATION = `mutation Hold($ids: [ID!]) { stocks { hold(ids: $ids) { id } } }`;
  let sim;
  let api;
  let loopback;

  afterEach(async () => {
    api?.close();
    api = undefined;
    await sim?.stop();
    sim = undefined;
    await loopback?.close();
    loopback = undefined;
  });

  function client(apiUrl, options = {}) {
    api = new ClarusClient({
      apiUrl,
      subdomain: "acme",
      accessToken: "static-token",
      retry: { baseDelayMs: 1, maxDelayMs: 5, maxRetryAfterMs: 5, maxAttempts: 3 },
      ...options,
    });
    return api;
  }

  it("should send a mutation answered 502 once, and a query up to maxAttempts", async function () {
    sim = await startSimulator({ history: 0, seed: 3, staticToken: "static-token" });
    client(sim.url);
    sim.setFaults({ error5xx: 1 });
    const error = await api.graphql(MUTATION, { ids: ["1"] }).catch((e) => e);
    assert.equal(sim.requests.graphql, 1, "a mutation answered 5xx is never sent again");
    assert.equal(error.reason, "server");
    assert.match(error.message, /HTTP 50\d; not sent again, as it may have been applied/);
    await assert.rejects(api.graphql(STOCKS, { first: 1 }), /gave up after 3 attempts/);
    assert.equal(sim.requests.graphql, 1 + 3);
  });

  it("should send a mutation again after a 429", async function () {
    sim = await startSimulator({ history: 0, seed: 3, staticToken: "static-token" });
    client(sim.url);
    sim.setFaults({ rateLimit: 1, retryAfterSeconds: 0 });
    const reasons = [];
    // The simulator has no mutations: once sent again, the mutation fails validation with GraphQL errors.
    const call = api.graphql(
      MUTATION,
      {},
      { onRetry: (info) => (reasons.push(info.reason), sim.clearFaults()) },
    );
    await assert.rejects(call, (error) => error.kind === "graphql");
    assert.deepEqual(reasons, ["HTTP 429"]);
    assert.equal(sim.requests.graphql, 2);
  });

  it("should not send a mutation again when it timed out", async function () {
    sim = await startSimulator({ history: 0, seed: 3, staticToken: "static-token" });
    client(sim.url, { timeoutMs: 1000 });
    let hung = 0;
    sim.on("hang", () => hung++);
    sim.setFaults({ hang: true });
    const error = await api.graphql(MUTATION).catch((e) => e);
    assert.equal(hung, 1, "a mutation that timed out is never sent again");
    assert.equal(error.kind, "timeout");
  });

  it("should send a mutation again when its connection was refused before sending", async function () {
    const port = await freePort();
    // Nothing listens on the port at first; the server starts at the first retry notice, and each retry
    // waits just under its 200 ms backoff step, so one of the next attempts finds it listening.
    client(`http://127.0.0.1:${port}`, {
      random: () => 0.99,
      retry: { baseDelayMs: 200, maxDelayMs: 1000, maxAttempts: 5 },
    });
    const reasons = [];
    let starting;
    const data = await api.graphql(
      MUTATION,
      {},
      {
        onRetry: (info) => {
          reasons.push(info.reason);
          starting ??= startLoopbackApi(port).then((server) => {
            loopback = server;
            server.handler = (_request, res) => json(res, 200, { data: { stocks: { hold: [] } } });
          });
        },
      },
    );
    assert.deepEqual(data, { stocks: { hold: [] } });
    assert.equal(reasons[0], "network error (ECONNREFUSED)");
    assert.equal(loopback.apiRequests.length, 1);
  });

  it("should not send a mutation again when the connection was reset after sending", async function () {
    loopback = await startLoopbackApi();
    loopback.handler = (request) => request.socket.destroy();
    client(loopback.url);
    const error = await api.graphql(MUTATION).catch((e) => e);
    assert.equal(loopback.apiRequests.length, 1, "a mutation cut off after sending is never sent again");
    assert.equal(error.reason, "network");
    assert.match(error.message, /not sent again/);
    await assert.rejects(api.graphql(STOCKS), /gave up after 3 attempts/);
    assert.equal(loopback.apiRequests.length, 1 + 3);
  });

  it("should honour operationName: the query of a document that also holds a mutation is retried", async function () {
    sim = await startSimulator({ history: 0, seed: 3, staticToken: "static-token" });
    client(sim.url);
    const document = `${MUTATION}\n${STOCKS}`;
    sim.setFaults({ error5xx: 1 });
    await assert.rejects(api.graphql(document, {}, { operationName: "Stocks" }), /gave up after 3 attempts/);
    assert.equal(sim.requests.graphql, 3);
    await assert.rejects(api.graphql(document, {}, { operationName: "Hold" }), /not sent again/);
    assert.equal(sim.requests.graphql, 4);
    sim.clearFaults();
    const data = await api.graphql(document, { first: 1 }, { operationName: "Stocks" });
    assert.equal(data.stocks.all.edges.length, 1);
    assert.equal(sim.requestLog.at(-1).operationName, "Stocks");
  });
});

describe("ClarusClient's shared token request", function () {
  let sim;
  let loopback;
  let api;

  afterEach(async () => {
    api?.close();
    await sim?.stop();
    sim = undefined;
    await loopback?.close();
    loopback = undefined;
  });

  async function withSimulator() {
    sim = await startSimulator({ history: 0, seed: 3 });
    api = new ClarusClient({
      apiUrl: sim.url,
      subdomain: sim.subdomain,
      clientId: sim.clientId,
      clientSecret: sim.clientSecret,
      retry: { baseDelayMs: 1, maxDelayMs: 5 },
    });
    // Token requests hang until the faults are cleared.
    sim.setFaults({ hang: true, applyToToken: true });
  }

  it("should not fail one caller when the caller that started the token request aborts", async function () {
    await withSimulator();
    const closing = new AbortController();
    const first = api.graphql(STOCKS, { first: 1 }, { signal: closing.signal });
    const second = api.graphql(STOCKS, { first: 1 });
    await once(sim, "hang");
    closing.abort(new Error("the poll node is closing"));
    await assert.rejects(first, /the poll node is closing/);
    sim.clearFaults();
    const data = await second;
    assert.equal(data.stocks.all.edges.length, 1);
    assert.equal(sim.requests.token, 1);
  });

  it("should stop a caller waiting for a shared token as soon as its own signal aborts", async function () {
    await withSimulator();
    const first = api.graphql(STOCKS, { first: 1 });
    const own = new AbortController();
    const second = api.graphql(STOCKS, { first: 1 }, { signal: own.signal });
    await once(sim, "hang");
    own.abort(new Error("my node is closing"));
    // Everything an abort sets off runs in microtasks, all of which run before setImmediate.
    const outcome = await Promise.race([
      second.then(
        () => "answered",
        (error) => `rejected: ${error.message}`,
      ),
      new Promise((resolve) => setImmediate(() => resolve("still waiting for the token"))),
    ]);
    assert.equal(outcome, "rejected: my node is closing");
    sim.clearFaults();
    await first;
  });

  it("should forget only the token that was refused, not one fetched meanwhile", async function () {
    loopback = await startLoopbackApi();
    let release;
    const held = new Promise((resolve) => (release = resolve));
    loopback.handler = async (request, res) => {
      if (!loopback.tokenValid(request)) return json(res, 401, { error: "Access token expired" });
      if (request.body.query.includes("Slow")) {
        loopback.emit("held");
        await held;
        // Checked again at answer time, like a server whose session ended meanwhile.
        if (!loopback.tokenValid(request)) return json(res, 401, { error: "Access token expired" });
      }
      json(res, 200, { data: { ok: true } });
    };
    api = new ClarusClient({
      apiUrl: loopback.url,
      subdomain: "acme",
      clientId: "id",
      clientSecret: "secret",
      retry: { baseDelayMs: 1, maxDelayMs: 5 },
    });
    const slow = api.graphql("query Slow { ok }");
    await once(loopback, "held");
    loopback.firstValidToken = 2; // token-1 is revoked while the slow request is out
    await api.graphql("query Fast { ok }"); // 401 with token-1, then token-2
    release();
    await slow; // 401 with token-1: token-2 is kept and used
    await api.graphql("query After { ok }");
    assert.equal(loopback.tokensIssued, 2, "a stale 401 must not throw away the new token");
  });
});

describe("ClarusClient deadline and size cap", function () {
  let loopback;
  let api;

  afterEach(async () => {
    api?.close();
    await loopback?.close();
    loopback = undefined;
  });

  function client(options = {}) {
    api = new ClarusClient({
      apiUrl: loopback.url,
      subdomain: "acme",
      accessToken: "static-token",
      retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 1 },
      ...options,
    });
    return api;
  }

  it("should fail at the deadline an answer trickled one byte at a time", async function () {
    loopback = await startLoopbackApi();
    const body = JSON.stringify({ data: { padding: "x".repeat(150) } });
    let cutOff;
    const trickle = new Promise((resolve) => {
      loopback.handler = (_request, res) => {
        res.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
        let sent = 0;
        const timer = setInterval(() => {
          res.write(body[sent++]);
          if (sent === body.length) {
            clearInterval(timer);
            res.end();
            resolve("the whole body was sent");
          }
        }, 20);
        res.once("close", () => {
          clearInterval(timer);
          resolve(sent < body.length ? `cut off after ${sent} of ${body.length} bytes` : "complete");
        });
      };
    });
    client({ timeoutMs: 300 });
    const started = Date.now();
    await assert.rejects(api.graphql(STOCKS), (error) => {
      assert.equal(error.kind, "timeout");
      assert.equal(error.reason, "timeout");
      assert.match(error.message, /no complete answer within 300 ms/);
      return true;
    });
    const elapsed = Date.now() - started;
    cutOff = await trickle;
    assert.match(cutOff, /^cut off after \d+ of \d+ bytes$/, `after ${elapsed} ms: ${cutOff}`);
  });

  for (const framing of ["Content-Length", "chunked"]) {
    it(`should refuse an answer over maxResponseBytes (${framing}) and not ask again`, async function () {
      loopback = await startLoopbackApi();
      const body = JSON.stringify({ data: { padding: "x".repeat(200_000) } });
      loopback.handler = (_request, res) => {
        const headers = { "Content-Type": "application/json" };
        if (framing === "Content-Length") headers["Content-Length"] = body.length;
        res.writeHead(200, headers);
        for (let at = 0; at < body.length; at += 16_384) res.write(body.slice(at, at + 16_384));
        res.end();
      };
      client({ maxResponseBytes: 100_000, retry: { baseDelayMs: 1, maxDelayMs: 5, maxAttempts: 3 } });
      await assert.rejects(api.graphql(STOCKS), (error) => {
        assert.equal(error.reason, "too-large");
        assert.match(error.message, /over the size limit of 100000 bytes/);
        return true;
      });
      assert.equal(loopback.apiRequests.length, 1);
      const small = await client({ maxResponseBytes: 300_000 }).graphql(STOCKS);
      assert.equal(small.padding.length, 200_000);
    });
  }
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
