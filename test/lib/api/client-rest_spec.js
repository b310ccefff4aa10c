// ClarusClient.rest, the Clarus REST API (`/api/...`, JSON:API) that webhook registration builds on, and
// the causes a ClarusApiError names. The simulator has no REST API, so a scripted loopback server answers
// in the shapes Clarus documents for automations and REST errors; the simulator covers token and 403 paths.
const assert = require("node:assert/strict");

const { startSimulator } = require("../../../build/dev/sim/index.js");
const { ClarusClient } = require("../../../build/nodes/lib/api/client.js");
const { startLoopbackApi, json } = require("../../helpers/loopback-api");
const { startSelfSignedServer } = require("../../helpers/tls-server");

const FAST_RETRY = { baseDelayMs: 1, maxDelayMs: 5, maxRetryAfterMs: 5, maxAttempts: 3 };
const WEBHOOK_TOKEN = "whk-0123456789abcdef";

const AUTOMATION = {
  data: {
    type: "automations",
    attributes: {
      resource_name: "goods_out",
      event: "completed",
      name: "node-red-clarus n1 goods_out.completed",
      enabled: true,
      conditions_changes: [],
      actions_changes: [
        {
          type: "ADD",
          attributes: {
            destination_type: "webhook",
            destination_code: "default",
            parameters_changes: [
              {
                type: "ADD",
                attributes: {
                  parameter_code: "webhook_url",
                  value: `https://nodered.example.com/clarus/events/${WEBHOOK_TOKEN}`,
                },
              },
              { type: "ADD", attributes: { parameter_code: "webhook_method", value: "POST" } },
            ],
          },
        },
      ],
    },
  },
};

/** Everything about an error that could be shown or logged. */
function shown(error) {
  return JSON.stringify({ message: error.message, stack: error.stack, apiErrors: error.apiErrors });
}

describe("ClarusClient.rest (the Clarus REST API)", function () {
  let loopback;
  let api;

  beforeEach(async () => {
    loopback = await startLoopbackApi();
  });

  afterEach(async () => {
    api?.close();
    await loopback.close();
  });

  function client(options = {}) {
    api = new ClarusClient({
      apiUrl: loopback.url,
      subdomain: "acme",
      clientId: "id",
      clientSecret: "client-secret-value",
      retry: FAST_RETRY,
      ...options,
    });
    return api;
  }

  /** Answers each API request with the next entry: [status, body, headers], or a function of the request. */
  function script(...answers) {
    loopback.handler = (request, res) => {
      const next = answers.length > 1 ? answers.shift() : answers[0];
      if (typeof next === "function") return next(request, res);
      const [status, body, headers] = next;
      json(res, status, body, headers);
    };
  }

  it("should send the bearer token, X-Clarus-Subdomain and a JSON:API body, and return the answer", async function () {
    script([201, { data: { id: 123, type: "automations", attributes: { enabled: true } } }]);
    const answer = await client().rest("POST", "/api/automations", { body: AUTOMATION });
    assert.deepEqual(answer, { data: { id: 123, type: "automations", attributes: { enabled: true } } });
    const [sent] = loopback.apiRequests;
    assert.equal(sent.method, "POST");
    assert.equal(sent.path, "/api/automations");
    assert.equal(sent.headers.authorization, "Bearer token-1");
    assert.equal(sent.headers["x-clarus-subdomain"], "acme");
    assert.match(sent.headers["content-type"], /^application\/json/);
    assert.deepEqual(sent.body, AUTOMATION);
  });

  it("should pass query parameters and read a GET answer", async function () {
    script([200, { data: [{ id: 7, type: "automations" }] }]);
    const answer = await client().rest("GET", "/api/automations", { params: { "filter[name]": "node red" } });
    assert.deepEqual(answer.data, [{ id: 7, type: "automations" }]);
    assert.deepEqual(loopback.apiRequests[0].query, { "filter[name]": "node red" });
  });

  it("should answer undefined for 204 No Content", async function () {
    script([204, undefined]);
    assert.equal(await client().rest("DELETE", "/api/automations/123"), undefined);
    assert.equal(loopback.apiRequests[0].method, "DELETE");
  });

  it("should get a new token once on 401 and carry on", async function () {
    script((request, res) =>
      loopback.tokenValid(request)
        ? json(res, 200, { data: [] })
        : json(res, 401, { error: "Access token expired" }),
    );
    const api = client();
    await api.rest("GET", "/api/automations");
    loopback.firstValidToken = 2;
    await api.rest("GET", "/api/automations");
    assert.equal(loopback.tokensIssued, 2);
  });

  it("should name a 401 that persists after a new token as refused credentials, in Clarus's words", async function () {
    script([401, { error: "User account is locked" }]);
    await assert.rejects(client().rest("GET", "/api/automations"), (error) => {
      assert.equal(error.status, 401);
      assert.equal(error.kind, "auth");
      assert.equal(error.reason, "credentials");
      assert.match(error.message, /refused the credentials \(HTTP 401: User account is locked\)/);
      assert.ok(!shown(error).includes("client-secret-value"));
      assert.ok(!shown(error).includes("token-"));
      return true;
    });
    assert.equal(loopback.tokensIssued, 2, "one new token, not a loop");
  });

  for (const symbol of ["subdomain_invalid", "subdomain_missing"]) {
    it(`should name a 403 ${symbol} as a wrong subdomain`, async function () {
      script([
        403,
        { errors: [{ code: 3, symbol, details: "Unknown subdomain", source: null, context: null }] },
      ]);
      await assert.rejects(client().rest("GET", "/api/automations"), (error) => {
        assert.equal(error.reason, "subdomain");
        assert.match(error.message, /does not know the subdomain "acme" \(HTTP 403: Unknown subdomain\)/);
        assert.equal(error.apiErrors[0].symbol, symbol);
        return true;
      });
    });
  }

  it("should name another 403 as forbidden and a 404 as not found", async function () {
    script(
      [403, { errors: [{ code: 1, symbol: "forbidden", details: "Not allowed to manage automations" }] }],
      [404, { errors: [{ code: 2, symbol: "not_found", details: "Automation not found" }] }],
    );
    const api = client();
    await assert.rejects(api.rest("PATCH", "/api/automations/9", { body: AUTOMATION }), (error) => {
      assert.equal(error.reason, "forbidden");
      assert.match(error.message, /not allowed to do this \(HTTP 403: Not allowed to manage automations\)/);
      return true;
    });
    await assert.rejects(api.rest("DELETE", "/api/automations/9"), (error) => {
      assert.equal(error.reason, "not-found");
      assert.match(error.message, /HTTP 404: Automation not found/);
      return true;
    });
  });

  it("should name the field of a 422 and never show the token of a URL the answer echoes", async function () {
    const echoed = `https://nodered.example.com/clarus/events/${WEBHOOK_TOKEN}`;
    script([
      422,
      {
        errors: [
          {
            code: 21,
            symbol: "invalid_parameter",
            details: `${echoed} is not reachable`,
            source: "/data/attributes/actions_changes/0/parameters_changes/0/value",
            context: null,
          },
          {
            code: 22,
            symbol: "blank",
            details: "can't be blank",
            source: { pointer: "/data/attributes/name" },
          },
        ],
      },
    ]);
    await assert.rejects(
      client().rest("POST", "/api/automations", { body: AUTOMATION, secrets: [WEBHOOK_TOKEN] }),
      (error) => {
        assert.equal(error.status, 422);
        assert.equal(error.reason, "invalid");
        assert.match(
          error.message,
          /Clarus refused the request \(HTTP 422: value: https:\/\/nodered\.example\.com\/… is not reachable; name: can't be blank\)/,
        );
        assert.deepEqual(
          error.apiErrors.map((e) => e.source),
          ["value", "name"],
        );
        assert.ok(!error.message.includes(WEBHOOK_TOKEN));
        return true;
      },
    );
  });

  it("should retry GET, PUT and DELETE on 5xx, but send POST and PATCH once", async function () {
    const api = client();
    for (const method of ["GET", "PUT", "DELETE"]) {
      script([502, { error: "Bad gateway" }], [200, { data: { id: 1 } }]);
      const before = loopback.apiRequests.length;
      await api.rest(method, "/api/automations/1", method === "PUT" ? { body: AUTOMATION } : {});
      assert.equal(loopback.apiRequests.length - before, 2, method);
    }
    for (const method of ["POST", "PATCH"]) {
      script([502, { error: "Bad gateway" }], [200, { data: { id: 1 } }]);
      const before = loopback.apiRequests.length;
      await assert.rejects(api.rest(method, "/api/automations", { body: AUTOMATION }), (error) => {
        assert.equal(error.reason, "server");
        assert.match(
          error.message,
          /answered HTTP 502: Bad gateway; not sent again, as it may have been applied/,
        );
        return true;
      });
      assert.equal(loopback.apiRequests.length - before, 1, `${method} must not be applied twice`);
    }
  });

  it("should send a POST again after a 429", async function () {
    script([429, { error: "Too many requests" }, { "Retry-After": "0" }], [201, { data: { id: 5 } }]);
    const answer = await client().rest("POST", "/api/automations", { body: AUTOMATION });
    assert.equal(answer.data.id, 5);
    assert.equal(loopback.apiRequests.length, 2);
  });

  it("should refuse a path outside /api/ before anything is sent", async function () {
    const api = client();
    for (const bad of [
      "https://elsewhere.example/api/automations",
      "/graphql",
      "/api/../oauth/token",
      "//x/api/a",
    ]) {
      await assert.rejects(api.rest("GET", bad), (error) => error.reason === "config", bad);
    }
    assert.equal(loopback.requests.length, 0);
  });

  it("should fail an answer that is not JSON with a clear reason", async function () {
    script((_request, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end("<html>proxy login</html>");
    });
    await assert.rejects(client().rest("GET", "/api/automations"), (error) => error.reason === "response");
  });
});

describe("ClarusApiError causes a connection test can show", function () {
  let sim;
  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
  });

  function client(apiUrl, options = {}) {
    return new ClarusClient({
      apiUrl,
      subdomain: "acme",
      clientId: "sim-client",
      clientSecret: "sim-secret",
      retry: { ...FAST_RETRY, maxAttempts: 1 },
      ...options,
    });
  }

  it("should name wrong client credentials (the simulator's token endpoint)", async function () {
    sim = await startSimulator({ history: 0 });
    await assert.rejects(
      client(sim.url, { clientSecret: "not-the-secret" }).rest("GET", "/api/automations"),
      (error) => {
        assert.equal(error.reason, "credentials");
        assert.match(error.message, /refused the client credentials \(HTTP 401: invalid_client/);
        assert.ok(!shown(error).includes("not-the-secret"));
        return true;
      },
    );
  });

  it("should name an unknown subdomain (the simulator's 403)", async function () {
    sim = await startSimulator({ history: 0 });
    await assert.rejects(
      client(sim.url, { subdomain: "acme-typo" }).graphql("{ sites { all { edges { node { id } } } } }"),
      (error) => {
        assert.equal(error.reason, "subdomain");
        return true;
      },
    );
  });

  it("should name a refused connection as an unreachable host", async function () {
    // Port 9 (discard) is below the ephemeral range, so no server of a parallel test can take it.
    await assert.rejects(client("http://127.0.0.1:9").rest("GET", "/api/automations"), (error) => {
      assert.equal(error.reason, "unreachable");
      assert.match(error.message, /cannot be reached \(ECONNREFUSED\)/);
      return true;
    });
  });

  it("should name a host name that does not resolve as an unreachable host", async function () {
    await assert.rejects(client("http://clarus-api.invalid").rest("GET", "/api/automations"), (error) => {
      assert.equal(error.reason, "unreachable");
      assert.match(error.message, /\((ENOTFOUND|EAI_AGAIN): the host name is not known\)/);
      return true;
    });
  });

  it("should name an untrusted certificate as a TLS failure", async function () {
    const server = await startSelfSignedServer();
    try {
      await assert.rejects(client(server.url).rest("GET", "/api/automations"), (error) => {
        assert.equal(error.reason, "tls");
        assert.match(error.message, /TLS failed talking to the Clarus API \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
        return true;
      });
    } finally {
      await server.close();
    }
  });
});
