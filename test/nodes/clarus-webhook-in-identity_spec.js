// X-ClarusWMS-Domain and X-ClarusWMS-API-Domain as a real tenant may send them: Clarus documents a second API host
// (`api.clarus.ws`, tenants on `<subdomain>.clarus.ws`), so API-Domain need not be the connection's API URL. The
// documented hosts are accepted unless the user pins one; a refused value is shown (status, warning, Test
// connection) with what was expected, so a dead webhook path does not look like a quiet one. Subdomain and token
// stay strict.
const assert = require("node:assert/strict");

const request = require("supertest");

const {
  helper,
  connectionNode,
  capturingWebhookNode,
  TOKEN,
  webhookConfig,
  collect,
} = require("../helpers/node-red");
const { startSimulator, connectionFor, simHeaders, listen, TEST_TUNING } = require("../helpers/clarus-sim");
const { waitForStatus, waitForCall } = require("../helpers/status");

const LOGIN_URL = "https://acme.claruswms.co.uk";

describe("clarus-webhook-in: the Domain and API-Domain Clarus sends", function () {
  this.timeout(30_000);
  let sim;
  let app;
  let server;
  let out;

  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    await helper.unload();
    await sim?.stop();
    if (server) await new Promise((resolve) => server.close(resolve));
    sim = undefined;
    server = undefined;
    helper.settings({});
  });

  /** The simulator (its options), our webhook-in on a loopback port, and the connection (`connection`). */
  async function load({ simOptions = {}, connection = {}, hooks = ["hook"] } = {}) {
    sim = await startSimulator({ history: 0, domain: LOGIN_URL, ...simOptions });
    server = await listen((req, res) => app(req, res));
    helper.settings({ clarus: TEST_TUNING });
    const flow = [
      connectionFor(sim, [{ id: "43", event: "goods_out.completed" }], { domain: LOGIN_URL, ...connection }),
      ...hooks.map((id, i) =>
        webhookConfig({ id, name: `${id} in`, path: i === 0 ? "/clarus/events" : `/clarus/events-${id}` }),
      ),
      { id: "out", type: "helper" },
    ];
    await helper.load([connectionNode, capturingWebhookNode((httpNode) => (app = httpNode))], flow, {
      conn: { webhookToken: TOKEN, clientId: sim.clientId, clientSecret: sim.clientSecret },
    });
    out = collect(helper.getNode("out"));
    return helper.getNode(hooks[0]);
  }

  /** A delivery as the simulated tenant sends it, with `headers` over its identity headers. */
  function deliver(headers = {}, { path = "/clarus/events", id = 1 } = {}) {
    return request(app)
      .post(`${path}/${TOKEN}`)
      .set({ ...simHeaders(sim, 43), ...headers })
      .send({ id, goods_out_status_id: 6 });
  }

  const hookUrl = () => `http://127.0.0.1:${server.address().port}/clarus/events/${TOKEN}`;

  it("should accept a documented Clarus API host in API-Domain that is not the API URL's", async function () {
    await load({ simOptions: { apiDomain: "https://api.clarus.ws" } });
    // The simulator's own sender, as a tenant on the newer API host sends.
    sim.addAutomation({ event: "goods_out.completed", url: hookUrl() });
    sim.generate(1, ["goods_out.completed"]);
    await sim.flush();
    assert.deepEqual(
      sim.sent.map((delivery) => delivery.status),
      [200],
    );
    const [msg] = await out.waitFor(1);
    assert.equal(msg.clarus.apiDomain, "https://api.clarus.ws");
    for (const [i, apiDomain] of [
      "https://clarus-api.com",
      "https://clarus-api-staging.com/api",
      "api.clarussoftware.co.uk",
      "https://api.clarus-mirror.co.uk/",
      "https://acme.api.clarus.ws",
      sim.url,
    ].entries()) {
      const res = await deliver({ "X-ClarusWMS-API-Domain": apiDomain }, { id: 10 + i });
      assert.equal(res.status, 200, `${apiDomain}: ${res.text}`);
    }
  });

  it("should refuse an API-Domain that is no Clarus API host and show what Clarus sent", async function () {
    const hook = await load();
    const res = await deliver({ "X-ClarusWMS-API-Domain": "https://api.example.com/" });
    assert.equal(res.status, 403);
    assert.equal(
      res.body.error,
      'X-ClarusWMS-API-Domain "https://api.example.com/" is not an API domain the connection accepts',
    );
    const status = await waitForStatus(hook, (s) => /refused/.test(s.text ?? ""));
    assert.deepEqual(status, {
      fill: "yellow",
      shape: "dot",
      text: "0 ok, 1 rejected, API-Domain api.example.com refused",
    });
    const warning = await waitForCall(hook, "warn", /X-ClarusWMS-API-Domain refused/);
    assert.match(warning, /accepts the documented Clarus API hosts and its API URL's \(clarus-api\.com, /);
    assert.match(warning, /api\.clarus\.ws/);
    assert.match(warning, /set the connection's API domain to "api\.example\.com"/);
    // The next delivery Clarus makes with an accepted host clears it.
    assert.equal((await deliver({}, { id: 2 })).status, 200);
    await waitForStatus(hook, (s) => s.text === "1 ok, 1 rejected");
  });

  it("should accept only the API domain the user pinned", async function () {
    const hook = await load({ connection: { apiDomain: "https://API.clarus.ws/" } });
    assert.equal((await deliver({ "X-ClarusWMS-API-Domain": "https://api.clarus.ws" })).status, 200);
    for (const other of ["https://clarus-api.com", sim.url]) {
      const res = await deliver({ "X-ClarusWMS-API-Domain": other }, { id: 2 });
      assert.equal(res.status, 403, other);
    }
    const warning = await waitForCall(hook, "warn", /X-ClarusWMS-API-Domain refused/);
    assert.match(warning, /pinned to "api\.clarus\.ws"; if Clarus is right, set it to "clarus-api\.com"/);
  });

  it("should refuse another login URL in Domain, naming the one Clarus sent and the one expected", async function () {
    const hook = await load({ simOptions: { domain: "https://acme.clarus.ws" } });
    sim.addAutomation({ event: "goods_out.completed", url: hookUrl() });
    sim.generate(1, ["goods_out.completed"]);
    await sim.flush();
    assert.deepEqual(
      sim.sent.map((delivery) => delivery.status),
      [403],
    );
    const status = await waitForStatus(hook, (s) => /refused/.test(s.text ?? ""));
    assert.equal(status.text, "0 ok, 1 rejected, Domain acme.clarus.ws refused");
    const warning = await waitForCall(hook, "warn", /X-ClarusWMS-Domain refused/);
    assert.match(
      warning,
      /login URL is "acme\.claruswms\.co\.uk"; if Clarus is right, set the login URL to "acme\.clarus\.ws"/,
    );
    assert.equal(out.received.length, 0);
  });

  it("should keep the subdomain strict whatever API host is named", async function () {
    const hook = await load();
    const res = await deliver({
      "X-ClarusWMS-API-Domain": "https://api.clarus.ws",
      "X-ClarusWMS-Subdomain": "other",
    });
    assert.equal(res.status, 403);
    assert.match(res.body.error, /X-ClarusWMS-Subdomain "other" is not the connection's subdomain/);
    await waitForStatus(hook, (s) => s.text === "0 ok, 1 rejected, Subdomain other refused");
  });

  it("should list in Test connection what each webhook-in node last received and whether it accepted it", async function () {
    await load({ hooks: ["hook", "second"] });
    const test = async () => {
      const res = await helper.request().post("/clarus-wms/test-connection").send({
        id: "conn",
        subdomain: sim.subdomain,
        apiUrl: sim.url,
        clientId: sim.clientId,
        clientSecret: sim.clientSecret,
      });
      assert.equal(res.status, 200, res.text);
      return res.body;
    };
    const before = await test();
    assert.deepEqual(before.webhooks, {
      ok: true,
      text: "no delivery received since the last deploy",
      seen: [
        { node: "hook", name: "hook in" },
        { node: "second", name: "second in" },
      ],
    });
    assert.equal(before.ok, true);

    assert.equal((await deliver({ "X-ClarusWMS-API-Domain": "https://api.clarus.ws" })).status, 200);
    const accepted = await test();
    assert.equal(accepted.webhooks.ok, true);
    assert.equal(
      accepted.webhooks.text,
      `accepted what Clarus sent (Domain ${LOGIN_URL}, API-Domain https://api.clarus.ws, Subdomain acme)`,
    );

    const refused = await deliver(
      { "X-ClarusWMS-API-Domain": "https://api.example.com" },
      { path: "/clarus/events-second" },
    );
    assert.equal(refused.status, 403);
    const report = await test();
    assert.equal(report.ok, false);
    assert.equal(report.webhooks.ok, false);
    assert.match(
      report.webhooks.text,
      /^webhook-in "second in" refused what Clarus sent: X-ClarusWMS-API-Domain "https:\/\/api\.example\.com" is not an API domain the connection accepts; .*set the connection's API domain to "api\.example\.com"$/,
    );
    const seen = Object.fromEntries(report.webhooks.seen.map((w) => [w.node, w.last]));
    assert.deepEqual(
      { ...seen.hook, at: undefined },
      {
        at: undefined,
        domain: LOGIN_URL,
        apiDomain: "https://api.clarus.ws",
        subdomain: "acme",
        automationId: "43",
        accepted: true,
      },
    );
    assert.equal(seen.second.accepted, false);
    assert.equal(seen.second.apiDomain, "https://api.example.com");
    assert.ok(!JSON.stringify(report).includes(TOKEN));
    assert.ok(!JSON.stringify(report).includes(sim.clientSecret));
  });
});
