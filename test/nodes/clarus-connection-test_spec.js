// The connection dialog's Test connection endpoint, called as the editor calls it (helper.request() reaches
// the admin app), against the simulator on each dialect and against hosts that fail in each way.
const assert = require("node:assert/strict");

const { helper, connectionNode } = require("../helpers/node-red");
const { startSimulator, connectionFor, TEST_TUNING } = require("../helpers/clarus-sim");
const { startSelfSignedServer } = require("../helpers/tls-server");

const WRONG_SECRET = "wrong-secret-9f8e7d6c";

describe("clarus-connection: Test connection", function () {
  this.timeout(30_000);
  let sim;

  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    await helper.unload();
    await sim?.stop();
    sim = undefined;
    helper.settings({});
  });

  /** Loads a deployed connection (with credentials) and returns a function that tests `fields`. */
  async function editor(credentials = {}) {
    helper.settings({ clarus: TEST_TUNING });
    await helper.load([connectionNode], [connectionFor(sim, [])], { conn: credentials });
    return async (fields) => {
      const res = await helper
        .request()
        .post("/clarus-wms/test-connection")
        .send({ id: "conn", subdomain: sim.subdomain, apiUrl: sim.url, ...fields });
      assert.equal(res.status, 200, res.text);
      return res.body;
    };
  }

  it("should say the client secret is wrong, without echoing it", async function () {
    sim = await startSimulator({ history: 0 });
    const test = await editor();
    const report = await test({ clientId: sim.clientId, clientSecret: WRONG_SECRET });
    assert.deepEqual(report, {
      ok: false,
      token: {
        ok: false,
        text:
          "wrong client ID or secret: Clarus refused the client credentials " +
          "(HTTP 401: invalid_client: client authentication failed)",
        cause: "credentials",
      },
      // What the dialog shows first: in plain words, with what to do.
      summary: {
        ok: false,
        headline: "Not working yet: Node-RED cannot use the Clarus API with these settings.",
        works: [],
        problems: [
          {
            problem: "Clarus refuses the client ID and secret.",
            todo: "Check both for typing errors and spaces; if they are right, ask Clarus support.",
          },
        ],
      },
    });
    assert.ok(!JSON.stringify(report).includes(WRONG_SECRET));
  });

  it("should report token, subdomain, schema, streams and automations on the documented schema", async function () {
    sim = await startSimulator({ history: 0, schema: "documented" });
    const dispatched = sim.addAutomation({ event: "goods_out.completed", url: "http://127.0.0.1:9/x" });
    const held = sim.addAutomation({ event: "stock.placed_on_hold", url: "http://127.0.0.1:9/x" });
    const test = await editor();
    const report = await test({ clientId: sim.clientId, clientSecret: sim.clientSecret });
    assert.equal(report.ok, true, JSON.stringify(report, null, 2));
    assert.deepEqual(report.token, { ok: true, text: "token obtained" });
    assert.deepEqual(report.subdomain, { ok: true, text: "acme accepted" });
    assert.match(report.schema.text, /^read by introspection \(\d+ types\)$/);
    assert.deepEqual(
      report.streams.map((s) => [s.stream, s.ok]),
      [
        ["goods_out.completed", true],
        ["goods_in.completed", true],
        ["stock.transactions", true],
      ],
    );
    assert.match(
      report.streams[0].text,
      /^ready: reads goods_outs in goods_out_status_code COMPLETED .*documented fallback/,
    );
    assert.match(report.streams[0].text, /\(without goods_outs\.goods_out_type, .*goods_outs\.lines\)$/);
    assert.deepEqual(report.automations, {
      ok: true,
      text: "2 found",
      found: [
        { id: String(dispatched), event: "goods_out.completed" },
        { id: String(held), event: "stock.placed_on_hold" },
      ],
    });
    if (process.env.CLARUS_PRINT_REPORTS) console.log(JSON.stringify(report, null, 2));
  });

  it("should say what a stream lacks on a schema that cannot serve it", async function () {
    sim = await startSimulator({
      history: 0,
      schema: "documented",
      schemaWithout: ["TransactionFilterType.created_at"],
    });
    const test = await editor();
    const report = await test({ clientId: sim.clientId, clientSecret: sim.clientSecret });
    assert.equal(report.ok, false);
    assert.deepEqual(report.streams[2], {
      stream: "stock.transactions",
      ok: false,
      text:
        "stock.transactions cannot be polled on this tenant's schema: transactions cannot be filtered by " +
        "created_at (from). Use a custom stream with a query that fits the schema.",
    });
    assert.equal(report.streams[0].ok, true);
  });

  it("should accept the token and refuse an unknown subdomain by name", async function () {
    sim = await startSimulator({ history: 0 });
    const test = await editor();
    const report = await test({
      subdomain: "acme-typo",
      clientId: sim.clientId,
      clientSecret: sim.clientSecret,
    });
    assert.deepEqual(report, {
      ok: false,
      token: { ok: true, text: "token obtained" },
      subdomain: {
        ok: false,
        text: 'Clarus does not know the subdomain "acme-typo" (HTTP 403: Unknown subdomain "acme-typo")',
      },
      summary: {
        ok: false,
        headline: "Partly working: 1 thing to fix.",
        works: ["Clarus accepts the client ID and secret."],
        problems: [
          {
            problem: "Clarus does not know this subdomain.",
            todo: "Check Subdomain: the tenant key Clarus gave you with the credentials, e.g. acme.",
          },
        ],
      },
    });
  });

  it("should name an unreachable host, a refused access token and missing credentials", async function () {
    sim = await startSimulator({ history: 0 });
    const test = await editor();
    const unreachable = await test({ apiUrl: "http://user:pw@127.0.0.1:9", accessToken: "pasted-token-123" });
    assert.deepEqual(unreachable.token, {
      ok: false,
      text: "nothing answers at http://127.0.0.1:9 (the Clarus API host cannot be reached (ECONNREFUSED))",
      cause: "unreachable",
    });
    assert.deepEqual(unreachable.summary.problems, [
      {
        problem: "Nothing answers at http://127.0.0.1:9.",
        todo: "Check the API URL, and that this machine can reach it (a proxy or a firewall in the way?).",
      },
    ]);
    const refused = await test({ accessToken: "pasted-token-123" });
    assert.deepEqual(refused.token, {
      ok: false,
      text: "the Clarus API refused the access token (HTTP 401: Invalid access token)",
      cause: "credentials",
    });
    assert.equal(refused.summary.problems[0].problem, "Clarus refuses the access token.");
    assert.ok(!JSON.stringify([unreachable, refused]).includes("pasted-token-123"));
    const none = await test({});
    assert.match(none.token.text, /^no API credentials/);
    assert.match(
      none.summary.problems[0].todo,
      /^Enter the client ID and secret from Clarus, or an access token\./,
    );
    const bad = await test({ apiUrl: "ftp://example.com", accessToken: "x" });
    assert.match(bad.token.text, /must be an http\(s\) URL/);
  });

  it("should say when the API does not answer in time", async function () {
    sim = await startSimulator({ history: 0 });
    const test = await editor();
    sim.setFaults({ hang: true });
    const report = await test({ clientId: sim.clientId, clientSecret: sim.clientSecret });
    sim.clearFaults();
    assert.match(report.token.text, /^no answer from http:\/\/127\.0\.0\.1:\d+ in time/);
    assert.match(report.summary.problems[0].problem, /^http:\/\/127\.0\.0\.1:\d+ did not answer in time\.$/);
  });

  it("should name a TLS failure", async function () {
    sim = await startSimulator({ history: 0 });
    const server = await startSelfSignedServer();
    try {
      const test = await editor();
      const report = await test({ apiUrl: server.url, accessToken: "t" });
      assert.match(
        report.token.text,
        /^TLS failed with https:\/\/127\.0\.0\.1:\d+, its certificate is not trusted here \(.*DEPTH_ZERO_SELF_SIGNED_CERT/,
      );
      assert.match(report.summary.problems[0].todo, /NODE_EXTRA_CA_CERTS/);
    } finally {
      await server.close();
    }
  });

  it("should take a secret not typed again from the deployed connection, only for its own API URL", async function () {
    sim = await startSimulator({ history: 0, schema: "scalar" });
    const test = await editor({ clientId: sim.clientId, clientSecret: sim.clientSecret });
    const report = await test({ clientId: sim.clientId, clientSecret: "__PWRD__" });
    assert.equal(report.ok, true, JSON.stringify(report));
    const moved = await test({
      apiUrl: "http://127.0.0.1:9",
      clientId: sim.clientId,
      clientSecret: "__PWRD__",
    });
    assert.deepEqual(moved, {
      ok: false,
      token: { ok: false, text: "the API URL changed since deploy: type the secret again to send it there" },
    });
    const undeployed = await test({ id: "not-deployed", clientId: sim.clientId, clientSecret: "__PWRD__" });
    assert.match(undeployed.token.text, /not deployed: type it again/);
  });
});
