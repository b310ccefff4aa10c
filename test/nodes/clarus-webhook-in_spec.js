const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

const request = require("supertest");

const {
  helper,
  connectionNode,
  capturingWebhookNode,
  TOKEN,
  CLARUS_HEADERS,
  connectionConfig,
  webhookConfig,
  collect,
  tempUserDir,
  dispatched,
} = require("../helpers/node-red");
const { waitForStatus } = require("../helpers/status");

describe("clarus-webhook-in", function () {
  let app;
  let out;

  async function load({ connection = {}, hook = {}, extraNodes = [], credentials = {}, settings } = {}) {
    if (settings) helper.settings(settings);
    const flow = [
      connectionConfig(connection),
      webhookConfig(hook),
      { id: "out", type: "helper" },
      { id: "dups", type: "helper" },
      ...extraNodes,
    ];
    await helper.load([connectionNode, capturingWebhookNode((httpNode) => (app = httpNode))], flow, {
      conn: { webhookToken: TOKEN, ...credentials },
    });
    out = collect(helper.getNode("out"));
    return helper.getNode("hook");
  }

  function post(path = `/clarus/events/${TOKEN}`, body = dispatched(1), headers = CLARUS_HEADERS) {
    return request(app).post(path).set(headers).send(body);
  }

  /** A valid delivery after the request under test: messages arrive in order, so this is a barrier. */
  async function expectOnlyBarrierReaches(barrierId = 999) {
    await post(undefined, dispatched(barrierId)).expect(200, { ok: true });
    const [first] = await out.waitFor(1);
    assert.equal(first.payload.id, barrierId);
    assert.equal(out.received.length, 1);
  }

  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    await helper.unload();
    helper.settings({});
  });

  context("when a delivery is valid", function () {
    it("should answer 200 and emit the message shape of every source node, without req or res", async function () {
      await load();
      await post().expect(200, { ok: true }).expect("Content-Type", /json/);
      const [msg] = await out.waitFor(1);
      assert.equal(msg.topic, "goods_out.completed");
      assert.deepEqual(msg.payload, dispatched(1));
      assert.equal(msg.req, undefined);
      assert.equal(msg.res, undefined);
      const { receivedAt, ...clarus } = msg.clarus;
      assert.ok(!Number.isNaN(Date.parse(receivedAt)));
      assert.deepEqual(clarus, {
        event: "goods_out.completed",
        source: "webhook",
        subdomain: "acme",
        domain: "https://acme.claruswms.co.uk",
        apiDomain: "https://clarus-api.com",
        automationId: "43",
        integrationId: "723",
        dedupeKey: "goods_out.completed:1",
        duplicate: false,
        connection: "conn",
      });
    });

    it("should accept the token as ?token= and as Authorization: Bearer", async function () {
      await load();
      await post(`/clarus/events?token=${TOKEN}`, dispatched(1)).expect(200, { ok: true });
      await request(app)
        .post("/clarus/events")
        .set({ ...CLARUS_HEADERS, Authorization: `Bearer ${TOKEN}` })
        .send(dispatched(2))
        .expect(200, { ok: true });
      const received = await out.waitFor(2);
      assert.deepEqual(
        received.map((m) => m.payload.id),
        [1, 2],
      );
    });

    it("should accept a JSON body without a content type", async function () {
      await load();
      await request(app)
        .post(`/clarus/events/${TOKEN}`)
        .set(CLARUS_HEADERS)
        .set("Content-Type", "")
        .send(Buffer.from(JSON.stringify(dispatched(5))))
        .expect(200, { ok: true });
      const [msg] = await out.waitFor(1);
      assert.equal(msg.payload.id, 5);
    });

    it("should compare header values without scheme, case or trailing slash", async function () {
      await load();
      await post(undefined, dispatched(1), {
        ...CLARUS_HEADERS,
        "X-ClarusWMS-Domain": "ACME.claruswms.co.uk/",
        "X-ClarusWMS-API-Domain": "http://Clarus-API.com//",
        "X-ClarusWMS-Subdomain": "ACME",
      }).expect(200, { ok: true });
      await out.waitFor(1);
    });

    it("should accept a delivery without X-ClarusWMS-Integration-ID (only sent when one applies)", async function () {
      await load();
      const { "X-ClarusWMS-Integration-ID": _omitted, ...headers } = CLARUS_HEADERS;
      await post(undefined, dispatched(1), headers).expect(200, { ok: true });
      const [msg] = await out.waitFor(1);
      assert.equal(msg.clarus.integrationId, undefined);
    });

    it("should serve GET when configured, with the query string as payload", async function () {
      await load({ hook: { method: "GET" } });
      await request(app)
        .get(`/clarus/events/${TOKEN}?id=7&reference=SO-7`)
        .set(CLARUS_HEADERS)
        .expect(200, { ok: true });
      const [msg] = await out.waitFor(1);
      assert.deepEqual(msg.payload, { id: "7", reference: "SO-7" });
      await post().expect(405);
    });
  });

  context("when a request must be rejected", function () {
    const rows = [
      {
        name: "malformed JSON",
        status: 400,
        send: () =>
          request(app).post(`/clarus/events/${TOKEN}`).set(CLARUS_HEADERS).type("json").send('{"id": 1,'),
      },
      {
        name: "a JSON array body",
        status: 400,
        send: () => post(undefined, [dispatched(1)]),
      },
      {
        name: "a JSON string body",
        status: 400,
        send: () =>
          request(app).post(`/clarus/events/${TOKEN}`).set(CLARUS_HEADERS).type("json").send('"hello"'),
      },
      {
        name: "a __proto__ key",
        status: 400,
        send: () =>
          request(app)
            .post(`/clarus/events/${TOKEN}`)
            .set(CLARUS_HEADERS)
            .type("json")
            .send('{"id":1,"__proto__":{"isAdmin":true}}'),
      },
      {
        name: "a nested constructor.prototype key",
        status: 400,
        send: () =>
          request(app)
            .post(`/clarus/events/${TOKEN}`)
            .set(CLARUS_HEADERS)
            .type("json")
            .send('{"id":1,"a":{"constructor":{"prototype":{"x":1}}}}'),
      },
      {
        name: "an escaped \\u005f_proto__ key",
        status: 400,
        send: () =>
          request(app)
            .post(`/clarus/events/${TOKEN}`)
            .set(CLARUS_HEADERS)
            .type("json")
            .send('{"id":1,"\\u005f_proto__":{"x":1}}'),
      },
      { name: "no token", status: 401, send: () => post("/clarus/events") },
      { name: "a wrong path token", status: 401, send: () => post("/clarus/events/wrong") },
      { name: "a wrong ?token=", status: 401, send: () => post("/clarus/events?token=wrong") },
      {
        name: "a wrong bearer token",
        status: 401,
        send: () =>
          request(app)
            .post("/clarus/events")
            .set({ ...CLARUS_HEADERS, Authorization: "Bearer wrong" })
            .send(dispatched(1)),
      },
      {
        name: "a token that is a prefix of the right one",
        status: 401,
        send: () => post(`/clarus/events/${TOKEN.slice(0, -1)}`),
      },
      ...[
        "X-ClarusWMS-Domain",
        "X-ClarusWMS-API-Domain",
        "X-ClarusWMS-Subdomain",
        "X-ClarusWMS-Automation-ID",
      ].map((header) => ({
        name: `a missing ${header}`,
        status: 403,
        send: () => {
          const headers = { ...CLARUS_HEADERS };
          delete headers[header];
          return post(undefined, dispatched(1), headers);
        },
      })),
      ...[
        ["X-ClarusWMS-Domain", "https://evil.example.com"],
        ["X-ClarusWMS-API-Domain", "https://api.evil.example.com"],
        ["X-ClarusWMS-Subdomain", "other"],
        ["X-ClarusWMS-Automation-ID", "43; drop"],
        ["X-ClarusWMS-Integration-ID", "abc"],
      ].map(([header, value]) => ({
        name: `a mismatching ${header}`,
        status: 403,
        send: () => post(undefined, dispatched(1), { ...CLARUS_HEADERS, [header]: value }),
      })),
      {
        name: "a content type that is not JSON",
        status: 415,
        send: () =>
          request(app).post(`/clarus/events/${TOKEN}`).set(CLARUS_HEADERS).type("text/plain").send("{}"),
      },
      {
        name: "a form body",
        status: 415,
        send: () =>
          request(app).post(`/clarus/events/${TOKEN}`).set(CLARUS_HEADERS).type("form").send("id=1"),
      },
      {
        name: "another method",
        status: 405,
        send: () => request(app).put(`/clarus/events/${TOKEN}`).set(CLARUS_HEADERS).send(dispatched(1)),
      },
    ];

    for (const row of rows) {
      it(`should answer ${row.status} to ${row.name} and let nothing into the flow`, async function () {
        const node = await load();
        const response = await row.send();
        assert.equal(response.status, row.status, JSON.stringify(response.body));
        assert.equal(response.body.ok, false);
        assert.ok(!JSON.stringify(response.body).includes(TOKEN));
        await expectOnlyBarrierReaches();
        const warnings = node.warn.args.map((args) => String(args[0]));
        assert.ok(
          warnings.some((w) => w.includes(`rejected ${row.status}`)),
          warnings.join("\n"),
        );
        assert.ok(warnings.every((w) => !w.includes(TOKEN)));
      });
    }

    it("should answer 405 with an Allow header", async function () {
      await load();
      const response = await request(app).delete(`/clarus/events/${TOKEN}`).expect(405);
      assert.equal(response.headers.allow, "POST");
    });

    it("should answer 403 to an automation id outside the allowed list", async function () {
      await load({ hook: { automationIds: "44, 45" } });
      await post().expect(403);
      await post(undefined, dispatched(2), { ...CLARUS_HEADERS, "X-ClarusWMS-Automation-ID": "45" }).expect(
        200,
      );
      const [msg] = await out.waitFor(1);
      assert.equal(msg.payload.id, 2);
      assert.equal(out.received.length, 1);
    });

    it("should answer 413 to a declared body over maxBytes before reading it", async function () {
      await load({ hook: { maxBytes: 1024 } });
      const status = await rawPost(app, { "Content-Length": String(10 * 1024 * 1024) }, "");
      assert.equal(status, 413);
      await expectOnlyBarrierReaches();
    });

    it("should answer 413 to a chunked body as soon as it passes maxBytes", async function () {
      await load({ hook: { maxBytes: 1024 } });
      const status = await rawPost(app, { "Transfer-Encoding": "chunked" }, "x".repeat(64 * 1024), {
        keepOpen: true,
      });
      assert.equal(status, 413);
      await expectOnlyBarrierReaches();
    });

    it("should count rejections in the status and warn at a bounded rate", async function () {
      const node = await load();
      for (let i = 0; i < 20; i++) await post("/clarus/events/wrong").expect(401);
      await expectOnlyBarrierReaches();
      const warnings = node.warn.args
        .map((args) => String(args[0]))
        .filter((w) => w.includes("rejected 401"));
      assert.equal(warnings.length, 1);
      const status = await waitForStatus(node, (s) => /20 rejected/.test(s.text));
      assert.equal(status.fill, "yellow");
      assert.equal(status.shape, "dot");
    });

    it("should warn about each cause of a rejection, not once per status code", async function () {
      const node = await load();
      await post("/clarus/events").expect(401);
      await post("/clarus/events/wrong").expect(401);
      await post("/clarus/events/wrong").expect(401);
      await post(undefined, "not json", { ...CLARUS_HEADERS, "Content-Type": "text/plain" }).expect(415);
      await expectOnlyBarrierReaches();
      const warnings = node.warn.args.map((args) => String(args[0])).filter((w) => w.startsWith("rejected"));
      assert.deepEqual(
        warnings.map((w) => w.replace(/ \(from .*$/, "")),
        [
          "rejected 401: token missing",
          "rejected 401: token wrong",
          'rejected 415: content type "text/plain" is not JSON',
        ],
      );
    });

    it("should apply the IP allow list to the socket peer, not X-Forwarded-For, by default", async function () {
      await load({ hook: { allowIps: "203.0.113.0/24" } });
      await post(undefined, dispatched(1), { ...CLARUS_HEADERS, "X-Forwarded-For": "203.0.113.9" }).expect(
        403,
      );
      await helper.unload();
      await load({ hook: { allowIps: "127.0.0.0/8, ::1" } });
      await post().expect(200);
      await out.waitFor(1);
    });

    it("should take the client from X-Forwarded-For only through the trusted proxies", async function () {
      await load({ hook: { allowIps: "203.0.113.0/24", trustProxy: "127.0.0.1, ::1" } });
      // A forged left-most entry does not help: the right-most untrusted hop is the client.
      await post(undefined, dispatched(1), {
        ...CLARUS_HEADERS,
        "X-Forwarded-For": "203.0.113.9, 198.51.100.7",
      }).expect(403);
      await post(undefined, dispatched(2), { ...CLARUS_HEADERS, "X-Forwarded-For": "203.0.113.9" }).expect(
        200,
      );
      const [msg] = await out.waitFor(1);
      assert.equal(msg.payload.id, 2);
    });

    it("should take the client one hop left when one proxy is trusted", async function () {
      await load({ hook: { allowIps: "198.51.100.0/24", trustProxy: "1" } });
      await post(undefined, dispatched(1), {
        ...CLARUS_HEADERS,
        "X-Forwarded-For": "203.0.113.9, 198.51.100.7",
      }).expect(200);
      await out.waitFor(1);
    });
  });

  context("when events repeat", function () {
    it("should answer a repeat as a duplicate and not emit it", async function () {
      const node = await load();
      await post().expect(200, { ok: true });
      await post().expect(200, { ok: true, duplicate: true });
      await expectOnlyBarrierReachesAfter(1);
      const status = await waitForStatus(node, (s) => s.text === "2 ok, 1 dup");
      assert.equal(status.fill, "green");
    });

    it("should send duplicates to the second output when asked", async function () {
      await load({ hook: { duplicatesOutput: true, wires: [["out"], ["dups"]] } });
      const dups = collect(helper.getNode("dups"));
      await post().expect(200, { ok: true });
      await post().expect(200, { ok: true, duplicate: true });
      const [dup] = await dups.waitFor(1);
      assert.equal(dup.clarus.duplicate, true);
      assert.equal(dup.clarus.dedupeKey, "goods_out.completed:1");
      assert.equal(out.received.length, 1);
      assert.equal(out.received[0].clarus.duplicate, false);
    });

    it("should treat string and number ids of one record as the same event", async function () {
      await load();
      await post(undefined, dispatched(12)).expect(200, { ok: true });
      await post(undefined, { ...dispatched(12), id: "12" }).expect(200, { ok: true, duplicate: true });
    });

    it("should unwrap a data envelope to find the record", async function () {
      await load();
      await post(undefined, { data: dispatched(21) }).expect(200, { ok: true });
      await post(undefined, dispatched(21)).expect(200, { ok: true, duplicate: true });
      const [msg] = await out.waitFor(1);
      assert.deepEqual(msg.payload, { data: dispatched(21) });
    });

    it("should fall back to the body hash when the event is unknown", async function () {
      await load({ connection: { automations: [] } });
      await post(undefined, { note: "no id here" }).expect(200, { ok: true });
      await post(undefined, { note: "no id here" }).expect(200, { ok: true, duplicate: true });
      await post(undefined, { note: "another body" }).expect(200, { ok: true });
      const received = await out.waitFor(2);
      assert.equal(received[0].topic, "unknown");
      assert.match(received[0].clarus.dedupeKey, /^sha256:[0-9a-f]{64}$/);
    });

    it("should let every repeat through when dedupe is off", async function () {
      await load({ hook: { dedupe: false } });
      await post().expect(200, { ok: true });
      await post().expect(200, { ok: true });
      await out.waitFor(2);
    });

    it("should emit each of many concurrent identical deliveries once", async function () {
      await load();
      const answers = await Promise.all(Array.from({ length: 20 }, () => post()));
      assert.equal(answers.filter((r) => r.body.duplicate === true).length, 19);
      await expectOnlyBarrierReachesAfter(1);
    });

    it("should keep deduplicating across a redeploy and a restart (persisted store)", async function () {
      const userDir = tempUserDir();
      await load({ settings: { userDir } });
      await post().expect(200, { ok: true });
      await out.waitFor(1);
      await helper.unload();
      await load({ settings: { userDir } });
      await post().expect(200, { ok: true, duplicate: true });
    });
  });

  context("when a delivery carries no business key", function () {
    const twoEvents = [
      { id: "43", event: "goods_out.updated" },
      { id: "44", event: "goods_out.processed" },
    ];
    const from = (automationId) => ({ ...CLARUS_HEADERS, "X-ClarusWMS-Automation-ID": automationId });

    it("should let every GET without a query string through, from one automation or several", async function () {
      await load({ hook: { method: "GET" }, connection: { automations: twoEvents } });
      for (const automationId of ["43", "43", "44"]) {
        await request(app).get(`/clarus/events/${TOKEN}`).set(from(automationId)).expect(200, { ok: true });
      }
      const received = await out.waitFor(3);
      assert.deepEqual(
        received.map((m) => m.topic),
        ["goods_out.updated", "goods_out.updated", "goods_out.processed"],
      );
      assert.equal(new Set(received.map((m) => m.clarus.dedupeKey)).size, 3);
    });

    it("should let every empty {} body through", async function () {
      await load();
      await post(undefined, {}).expect(200, { ok: true });
      await post(undefined, {}).expect(200, { ok: true });
      await out.waitFor(2);
    });

    it("should keep equal id-less bodies of different events or automations apart, and collapse a byte-identical retry", async function () {
      await load({ connection: { automations: twoEvents } });
      const body = { note: "nightly run", warehouse: "MAIN" };
      await post(undefined, body, from("43")).expect(200, { ok: true });
      await post(undefined, body, from("44")).expect(200, { ok: true });
      await post(undefined, body, from("43")).expect(200, { ok: true, duplicate: true });
      // Neither automation is mapped: both are "unknown", and still two different senders.
      await post(undefined, body, from("45")).expect(200, { ok: true });
      await post(undefined, body, from("46")).expect(200, { ok: true });
      await post(undefined, body, from("46")).expect(200, { ok: true, duplicate: true });
      const received = await out.waitFor(4);
      assert.deepEqual(
        received.map((m) => m.topic),
        ["goods_out.updated", "goods_out.processed", "unknown", "unknown"],
      );
    });
  });

  context("when the flow is redeployed while a request is being read", function () {
    for (const deploymentType of ["full", "nodes"]) {
      it(`should answer it 503 on a ${deploymentType} deploy and take the retry as fresh`, async function () {
        await load();
        const body = JSON.stringify(dispatched(31));
        const partial = await partialPost(app, body, 10);
        const flow = [
          connectionConfig(),
          webhookConfig({ name: "redeployed" }),
          { id: "out", type: "helper" },
          { id: "dups", type: "helper" },
        ];
        await helper.setFlows(flow, deploymentType);
        partial.finish();
        const answer = await partial.response;
        assert.equal(answer.status, 503, answer.text);
        assert.equal(answer.headers["retry-after"], "5");
        assert.equal(out.received.length, 0, "a message left the node being closed");
        // Clarus retries into the new flow: fresh, and delivered.
        out = collect(helper.getNode("out"));
        await post(undefined, dispatched(31)).expect(200, { ok: true });
        const [msg] = await out.waitFor(1);
        assert.equal(msg.payload.id, 31);
      });
    }
  });

  context("when the connection's inbox cannot be written (on-confirm)", function () {
    it("should answer 503 with Retry-After, send nothing, show it, and take the event once writes work", async function () {
      const userDir = tempUserDir();
      const inbox = path.join(userDir, "clarus", "inbox-conn.log");
      fs.mkdirSync(path.dirname(inbox), { recursive: true });
      // A full disk: the inbox and the file a rewrite would use both lead to /dev/full (ENOSPC).
      fs.symlinkSync("/dev/full", inbox);
      fs.symlinkSync("/dev/full", `${inbox}.tmp`);
      const node = await load({ settings: { userDir }, connection: { delivery: "on-confirm" } });
      for (let i = 0; i < 3; i++) {
        const response = await post(undefined, dispatched(41)).expect(503);
        assert.equal(response.headers["retry-after"], "5");
        assert.equal(response.body.ok, false);
        assert.equal(response.body.error, "the store is unavailable; try again later");
      }
      const status = await waitForStatus(node, (s) => /store failing/.test(s.text));
      assert.equal(status.fill, "red");
      const warnings = node.warn.args.map((args) => String(args[0])).filter((w) => /rejected 503/.test(w));
      assert.equal(warnings.length, 1, "warned once, not once a request");
      assert.match(warnings[0], /store cannot take the event: .*ENOSPC/, "the cause is in the log");
      assert.equal(out.received.length, 0);

      fs.rmSync(inbox);
      fs.rmSync(`${inbox}.tmp`, { force: true });
      await post(undefined, dispatched(41)).expect(200, { ok: true });
      const [msg] = await out.waitFor(1);
      assert.equal(msg.payload.id, 41);
      assert.equal(msg.clarus.attempt, 1);
      assert.equal(msg.clarus.redelivered, false);
      await waitForStatus(node, (s) => s.fill === "green");
      assert.ok(node.warn.args.some(([w]) => /takes events again/.test(String(w))));
      assert.equal(fs.lstatSync(inbox).isFile(), true, "the inbox is a regular file again");
    });
  });

  context("when it cannot start", function () {
    it("should wait, grey, saying so in the status and not as a warning, while the connection has no webhook token", async function () {
      const node = await load({ credentials: { webhookToken: "" } });
      assert.deepEqual(node.status.args[node.status.args.length - 1][0], {
        fill: "grey",
        shape: "ring",
        text: "not configured: no webhook token",
      });
      assert.equal(node.warn.callCount, 0);
      assert.equal(node.error.callCount, 0);
      await post().expect(404);
    });

    it("should fail red with the reason on a setting it cannot run with", async function () {
      const node = await load({ hook: { path: "/clarus/:id" } });
      assert.ok(
        node.error.args.some(([e]) => /not listening: path "\/clarus\/:id" must be like/.test(String(e))),
      );
      const status = node.status.args[node.status.args.length - 1][0];
      assert.equal(status.fill, "red");
    });
  });

  context("when routes are shared or redeployed", function () {
    it("should refuse a second node on the same method and path with a clear error", async function () {
      await load({ extraNodes: [webhookConfig({ id: "hook2", wires: [["out"]] })] });
      const second = helper.getNode("hook2");
      const first = helper.getNode("hook");
      const errors = [...first.error.args, ...second.error.args].map((args) => String(args[0]));
      assert.ok(
        errors.some((e) => /POST \/clarus\/events is already used by node/.test(e)),
        errors.join("\n"),
      );
      await post().expect(200, { ok: true });
      await out.waitFor(1);
    });

    it("should serve two nodes on one path with different methods", async function () {
      await load({ extraNodes: [webhookConfig({ id: "hook2", method: "GET", wires: [["dups"]] })] });
      const gets = collect(helper.getNode("dups"));
      await post().expect(200, { ok: true });
      await request(app).get(`/clarus/events/${TOKEN}?id=3`).set(CLARUS_HEADERS).expect(200);
      await out.waitFor(1);
      await gets.waitFor(1);
      const response = await request(app).put(`/clarus/events/${TOKEN}`).expect(405);
      assert.deepEqual(response.headers.allow.split(", ").sort(), ["GET", "POST"]);
    });

    it("should refuse a wrong token on a path two nodes share, not hand it from one to the other", async function () {
      await load({ extraNodes: [webhookConfig({ id: "hook2", method: "GET", wires: [["dups"]] })] });
      await post("/clarus/events/wrong").expect(401, { ok: false, error: "token wrong" });
      await request(app)
        .get("/clarus/events/wrong?id=4")
        .set(CLARUS_HEADERS)
        .expect(401, { ok: false, error: "token wrong" });
      await expectOnlyBarrierReaches();
    });

    it("should leave no stale route after 50 redeploys and emit each delivery once", async function () {
      await load();
      const flow = [
        connectionConfig(),
        webhookConfig(),
        { id: "out", type: "helper" },
        { id: "dups", type: "helper" },
      ];
      for (let i = 0; i < 50; i++) {
        flow[1] = webhookConfig({ name: `deploy ${i}` });
        await helper.setFlows(flow, "full");
      }
      out = collect(helper.getNode("out"));
      const routes = app._router.stack.filter((layer) => layer.route);
      assert.equal(routes.length, 1);
      await post(undefined, dispatched(77)).expect(200, { ok: true });
      await expectOnlyBarrierReachesAfter(1);
    });

    it("should remove its route on close so the path answers 404", async function () {
      await load();
      await helper.setFlows([connectionConfig(), { id: "out", type: "helper" }], "full");
      await post().expect(404);
    });
  });

  async function expectOnlyBarrierReachesAfter(count) {
    await post(undefined, dispatched(999)).expect(200, { ok: true });
    const received = await out.waitFor(count + 1);
    assert.equal(received[count].payload.id, 999);
    assert.equal(received.length, count + 1);
  }
});

/** Sends a raw request to the app on a real socket, for bodies supertest cannot shape. */
function rawPost(app, headers, body, { keepOpen = false } = {}) {
  return new Promise((resolve, reject) => {
    const server = http.createServer(app).listen(0, "127.0.0.1", () => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port: server.address().port,
          method: "POST",
          path: `/clarus/events/${TOKEN}`,
          headers: { ...CLARUS_HEADERS, "Content-Type": "application/json", ...headers },
        },
        (res) => {
          res.resume();
          res.on("end", () => server.close(() => resolve(res.statusCode)));
        },
      );
      req.on("error", (error) => {
        server.close();
        reject(error);
      });
      if (keepOpen) {
        // Keep sending until the server answers: the answer must not wait for the end of the body.
        const chunk = body;
        const pump = () => {
          while (req.write(chunk)) {
            if (req.destroyed) return;
          }
        };
        req.on("drain", pump);
        req.on("response", () => req.destroy());
        pump();
      } else {
        req.end(body);
      }
    });
  });
}

/**
 * Starts a POST on a real socket that sends `sent` bytes of `body` and waits: resolves once the node is
 * reading it, with `finish()` to send the rest and `response` (status, headers, text).
 */
function partialPost(app, body, sent) {
  return new Promise((resolve, reject) => {
    const server = http.createServer(app);
    server.once("request", () => {
      // The app's own "request" listener ran first: the handler is reading the body now.
      setImmediate(() =>
        resolve({
          finish: () => req.end(body.slice(sent)),
          response,
        }),
      );
    });
    let req;
    const response = new Promise((settle, fail) => {
      server.listen(0, "127.0.0.1", () => {
        req = http.request({
          host: "127.0.0.1",
          port: server.address().port,
          method: "POST",
          path: `/clarus/events/${TOKEN}`,
          headers: {
            ...CLARUS_HEADERS,
            "Content-Type": "application/json",
            "Content-Length": Buffer.byteLength(body),
          },
        });
        req.on("response", (res) => {
          const chunks = [];
          res.on("data", (chunk) => chunks.push(chunk));
          res.on("end", () => {
            server.close();
            settle({
              status: res.statusCode,
              headers: res.headers,
              text: Buffer.concat(chunks).toString("utf8"),
            });
          });
        });
        req.on("error", (error) => {
          server.close();
          fail(error);
          reject(error);
        });
        req.write(body.slice(0, sent));
      });
    });
  });
}
