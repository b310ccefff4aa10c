const assert = require("node:assert/strict");

const { SIM, fetchToken, gql } = require("./helpers");

const QUERY = "{ automations { all { edges { node { id } } } } }";

describe("clarus simulator: OAuth and tenant header", function () {
  let sim;
  let clock;

  before(async function () {
    clock = Date.now();
    sim = await SIM.startSimulator({
      seed: 1,
      tokenTtlSeconds: 60,
      now: () => clock,
      staticToken: "static-abc",
    });
  });

  after(() => sim.stop());

  context("when a client asks for a token", function () {
    it("should issue a bearer token for form-encoded client credentials", async function () {
      const res = await fetch(sim.tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "grant_type=client_credentials&client_id=sim-client&client_secret=sim-secret",
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("cache-control"), "no-store");
      const body = await res.json();
      assert.equal(body.token_type, "Bearer");
      assert.equal(body.expires_in, 60);
      assert.match(body.access_token, /^[A-Za-z0-9_-]{20,}$/);
      const { status } = await gql(sim, body.access_token, QUERY);
      assert.equal(status, 200);
    });

    it("should accept a JSON body", async function () {
      const res = await fetch(sim.tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          grant_type: "client_credentials",
          client_id: "sim-client",
          client_secret: "sim-secret",
        }),
      });
      assert.equal(res.status, 200);
    });

    it("should accept HTTP Basic client authentication", async function () {
      const res = await fetch(sim.tokenUrl, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          authorization: `Basic ${Buffer.from("sim-client:sim-secret").toString("base64")}`,
        },
        body: "grant_type=client_credentials",
      });
      assert.equal(res.status, 200);
    });

    it("should answer 401 invalid_client for a wrong secret", async function () {
      const res = await fetch(sim.tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "grant_type=client_credentials&client_id=sim-client&client_secret=nope",
      });
      assert.equal(res.status, 401);
      assert.equal((await res.json()).error, "invalid_client");
    });

    it("should answer 401 with a Basic challenge for wrong Basic credentials", async function () {
      const res = await fetch(sim.tokenUrl, {
        method: "POST",
        headers: { authorization: `Basic ${Buffer.from("sim-client:bad").toString("base64")}` },
        body: "grant_type=client_credentials",
      });
      assert.equal(res.status, 401);
      assert.match(res.headers.get("www-authenticate"), /^Basic/);
    });

    it("should answer 400 unsupported_grant_type for another grant", async function () {
      const res = await fetch(sim.tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "grant_type=password&client_id=sim-client&client_secret=sim-secret",
      });
      assert.equal(res.status, 400);
      assert.equal((await res.json()).error, "unsupported_grant_type");
    });

    it("should answer 400 for a missing grant_type or a malformed JSON body", async function () {
      const missing = await fetch(sim.tokenUrl, { method: "POST", body: "client_id=sim-client" });
      assert.equal(missing.status, 400);
      assert.equal((await missing.json()).error, "invalid_request");
      const bad = await fetch(sim.tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{not json",
      });
      assert.equal(bad.status, 400);
    });

    it("should answer 405 to GET", async function () {
      const res = await fetch(sim.tokenUrl);
      assert.equal(res.status, 405);
      assert.equal(res.headers.get("allow"), "POST");
    });
  });

  context("when /graphql is called", function () {
    it("should answer 401 {error} without a token", async function () {
      const { status, body, headers } = await gql(sim, undefined, QUERY);
      assert.equal(status, 401);
      assert.equal(typeof body.error, "string");
      assert.match(headers.get("www-authenticate"), /^Bearer/);
    });

    it("should answer 401 for an unknown token", async function () {
      const { status, body } = await gql(sim, "not-a-token", QUERY);
      assert.equal(status, 401);
      assert.equal(body.error, "Invalid access token");
    });

    it("should answer 401 once the token lifetime has passed", async function () {
      const token = await fetchToken(sim);
      assert.equal((await gql(sim, token, QUERY)).status, 200);
      clock += 59_000;
      assert.equal((await gql(sim, token, QUERY)).status, 200);
      clock += 1_000;
      const { status, body } = await gql(sim, token, QUERY);
      assert.equal(status, 401);
      assert.equal(body.error, "Access token expired");
    });

    it("should answer 401 for every issued token after expireTokens(), but keep the static token", async function () {
      const a = await fetchToken(sim);
      const b = sim.issueToken();
      const before = sim.faultCounts.expireTokens;
      assert.ok(sim.expireTokens() >= 2);
      assert.equal(sim.faultCounts.expireTokens, before + 1);
      assert.equal((await gql(sim, a, QUERY)).status, 401);
      assert.equal((await gql(sim, b, QUERY)).status, 401);
      assert.equal((await gql(sim, "static-abc", QUERY)).status, 200);
      assert.equal((await gql(sim, await fetchToken(sim), QUERY)).status, 200);
    });

    it("should expire tokens through setFaults({expireTokens: true})", async function () {
      const token = await fetchToken(sim);
      sim.setFaults({ expireTokens: true });
      sim.clearFaults();
      assert.equal((await gql(sim, token, QUERY)).status, 401);
    });

    it("should answer 403 when X-Clarus-Subdomain is missing or wrong", async function () {
      const token = sim.issueToken();
      const res = await fetch(sim.graphqlUrl, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: QUERY }),
      });
      assert.equal(res.status, 403);
      assert.equal((await res.json()).errors[0].symbol, "subdomain_missing");
      const wrong = await gql(sim, token, QUERY, undefined, { "x-clarus-subdomain": "other" });
      assert.equal(wrong.status, 403);
      assert.equal(wrong.body.errors[0].symbol, "subdomain_invalid");
    });

    it("should check the token before the subdomain", async function () {
      const { status } = await gql(sim, undefined, QUERY, undefined, { "x-clarus-subdomain": "other" });
      assert.equal(status, 401);
    });

    it("should answer 400 with a reason for a malformed body, never crash", async function () {
      const token = sim.issueToken();
      const post = (body) =>
        fetch(sim.graphqlUrl, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "x-clarus-subdomain": "acme" },
          body,
        });
      for (const body of [
        "{",
        "[]",
        '{"query": 5}',
        '{"query":"{a}","variables":[1]}',
        '{"query":"{a}","operationName":1}',
      ]) {
        const res = await post(body);
        assert.equal(res.status, 400, body);
        assert.equal(typeof (await res.json()).error, "string");
      }
      const big = await post(JSON.stringify({ query: "x".repeat(1024 * 1024 + 10) }));
      assert.equal(big.status, 413);
      assert.equal((await gql(sim, token, QUERY)).status, 200);
    });

    it("should answer GraphQL syntax and validation errors with HTTP 200 and errors", async function () {
      const token = sim.issueToken();
      const syntax = await gql(sim, token, "{ stocks { all {");
      assert.equal(syntax.status, 200);
      assert.ok(syntax.body.errors.length > 0);
      const invalid = await gql(sim, token, "{ stocks { all { edges { node { nope } } } } }");
      assert.equal(invalid.status, 200);
      assert.match(invalid.body.errors[0].message, /nope/);
    });

    it("should answer 404 for unknown paths and count requests by status", async function () {
      const res = await fetch(`${sim.url}/api/nothing`);
      assert.equal(res.status, 404);
      assert.ok(sim.requests.byStatus["404"] >= 1);
      assert.ok(sim.requests.graphql > 0 && sim.requests.token > 0);
      assert.equal(sim.requests.total, sim.requests.graphql + sim.requests.token + sim.requests.other);
    });
  });
});
