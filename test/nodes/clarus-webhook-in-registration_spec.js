// Webhook self-registration (the webhook-in's `register` and the connection's `publicUrl`) against the
// simulator's real REST and GraphQL APIs: a webhook-in with `register` makes Clarus's automations match it,
// and the simulator's deliveries to those automations reach the flow over real HTTP.
const assert = require("node:assert/strict");

const {
  helper,
  connectionNode,
  capturingWebhookNode,
  tempUserDir,
  TOKEN,
  collect,
  webhookConfig,
} = require("../helpers/node-red");
const { startSimulator, TEST_TUNING, listen, connectionFor, simHeaders } = require("../helpers/clarus-sim");
const { waitForStatus } = require("../helpers/status");
const { startApiProxy } = require("../helpers/api-proxy");

const EVENTS = ["goods_out.completed", "goods_in.completed", "stock.placed_on_hold"];
const NO_REGISTRATION_CALLS = { list: 0, read: 0, create: 0, update: 0, delete: 0, lookups: 0 };
const ROTATED = "rotated-token-9876543210fedcba";

describe("clarus-webhook-in: webhook registration", function () {
  let sim;
  let server;
  let app;
  let publicUrl;
  let userDir;

  before(() => helper.startServer());
  after(() => helper.stopServer());

  beforeEach(async () => {
    sim = await startSimulator({ history: 0, seed: 12 });
    // One server for the whole test; it forwards to whichever HTTP node app the current load created.
    server = await listen((req, res) => app(req, res));
    publicUrl = `http://127.0.0.1:${server.address().port}`;
    userDir = tempUserDir();
  });

  afterEach(async () => {
    await helper.unload();
    await new Promise((resolve) => server.close(resolve));
    await sim.stop();
    helper.settings({});
  });

  function hook(id, overrides = {}) {
    return webhookConfig({ id, register: EVENTS, ...overrides });
  }

  async function load(nodes, { token = TOKEN, settings = {}, connectionOverrides = {} } = {}) {
    helper.settings({ clarus: TEST_TUNING, userDir, ...settings });
    await helper.load(
      [connectionNode, capturingWebhookNode((httpNode) => (app = httpNode))],
      [
        connectionFor(sim, [], { publicUrl, dedupeCapacity: 1000, ...connectionOverrides }),
        ...nodes,
        { id: "out", type: "helper" },
      ],
      { conn: { webhookToken: token, clientId: sim.clientId, clientSecret: sim.clientSecret } },
    );
    return collect(helper.getNode("out"));
  }

  /** The simulator's automations named for node `nodeId`, by event (the name's word after the node id). */
  function registered(nodeId = "hook") {
    const prefix = `node-red-clarus ${nodeId} `;
    return sim.store.automations
      .all()
      .filter((a) => a.name.startsWith(prefix))
      .map((a) => ({
        id: a.id,
        name: a.name,
        event: a.name.slice(prefix.length).split(" ")[0],
        enabled: a.enabled,
        targets: sim.webhookTargets(a.id),
      }))
      .sort((a, b) => a.event.localeCompare(b.event) || a.id - b.id);
  }

  /** The automation an earlier version would have registered: named without an installation mark. */
  function legacyName(event, nodeId = "hook") {
    return `node-red-clarus ${nodeId} ${event}`;
  }

  function warned(node, pattern) {
    return node.warn.args.map((args) => String(args[0])).filter((text) => pattern.test(text));
  }

  /** Resolves with the node's first status that is not "registering…". */
  function registrationStatus(node) {
    return waitForStatus(node, (s) => /^(registered|registration failed|not registered)/.test(s.text));
  }

  /** Every text the node logged or showed, for the never-a-token checks. */
  function everythingShown(node) {
    const calls = ["log", "warn", "error", "status"].flatMap((method) => node[method].args);
    return JSON.stringify(calls) + JSON.stringify(helper.log().args);
  }

  /** API calls that registration makes: REST, and the GraphQL lookup by name. */
  function registrationCalls() {
    const lookups = sim.requestLog.filter(
      (entry) => entry.path === "/graphql" && entry.variables?.filter?.name !== undefined,
    ).length;
    return { ...sim.automationsApi.counts, lookups };
  }

  it("should create one automation per event whose deliveries reach the flow, classified exactly", async function () {
    const out = await load([hook("hook")]);
    const node = helper.getNode("hook");
    const status = await registrationStatus(node);
    assert.equal(status.text, "registered 3 event(s)");
    const automations = registered();
    assert.deepEqual(
      automations.map((a) => a.event),
      [...EVENTS].sort(),
    );
    for (const automation of automations) {
      assert.equal(automation.enabled, true);
      assert.deepEqual(
        automation.targets.map((t) => [t.url, t.method]),
        [[`${publicUrl}/clarus/events/${TOKEN}`, "POST"]],
      );
    }
    // One lookup by exact name, one by pattern for other installations' automations of the node.
    assert.deepEqual(registrationCalls(), { list: 0, read: 0, create: 3, update: 0, delete: 0, lookups: 2 });

    sim.generate(1, ["stock.placed_on_hold"]);
    sim.generate(1, ["goods_in.completed"]);
    await sim.flush();
    const messages = await out.waitFor(2);
    assert.deepEqual(
      sim.sent.map((d) => d.status),
      [200, 200],
    );
    const byAutomation = Object.fromEntries(automations.map((a) => [String(a.id), a.event]));
    for (const msg of messages) assert.equal(msg.topic, byAutomation[msg.clarus.automationId]);
    assert.ok(!everythingShown(node).includes(TOKEN), "the token was logged or shown");
  });

  it("should update the URL in place on token rotation, keeping the automation ids", async function () {
    await load([hook("hook")]);
    await registrationStatus(helper.getNode("hook"));
    const before = registered().map((a) => a.id);
    await helper.unload();

    const out = await load([hook("hook")], { token: ROTATED });
    const node = helper.getNode("hook");
    assert.equal((await registrationStatus(node)).text, "registered 3 event(s)");
    const after = registered();
    assert.deepEqual(
      after.map((a) => a.id),
      before,
    );
    for (const automation of after) {
      assert.deepEqual(
        automation.targets.map((t) => t.url),
        [`${publicUrl}/clarus/events/${ROTATED}`],
      );
    }
    const calls = registrationCalls();
    assert.deepEqual([calls.create, calls.update, calls.delete], [3, 3, 0]);
    sim.generate(1, ["goods_out.completed"]);
    await sim.flush();
    await out.waitFor(1);
    assert.equal(sim.sent.at(-1).status, 200);
    assert.ok(!everythingShown(node).includes(ROTATED), "the rotated token was logged or shown");
  });

  context("when Clarus has only the documented endpoints (no REST read)", function () {
    it("should tell an unchanged automation from a rotated token by what it wrote last", async function () {
      sim.automationsApi.reads = false;
      await load([hook("hook")]);
      await registrationStatus(helper.getNode("hook"));
      await helper.unload();

      await load([hook("hook")]);
      assert.equal((await registrationStatus(helper.getNode("hook"))).text, "registered 3 event(s)");
      let calls = registrationCalls();
      assert.deepEqual([calls.create, calls.update, calls.delete], [3, 0, 0], "a restart changed something");
      const first = registered().map((a) => a.id);
      await helper.unload();

      const out = await load([hook("hook")], { token: ROTATED });
      await registrationStatus(helper.getNode("hook"));
      const rotated = registered();
      calls = registrationCalls();
      // No PATCH can name the parameter without a read: each automation is replaced, never doubled.
      assert.deepEqual([calls.create, calls.delete], [6, 3]);
      assert.equal(rotated.length, 3);
      assert.ok(rotated.every((a) => !first.includes(a.id)));
      assert.ok(rotated.every((a) => a.targets[0].url.endsWith(`/${ROTATED}`)));
      sim.generate(1, ["goods_in.completed"]);
      await sim.flush();
      const [msg] = await out.waitFor(1);
      assert.equal(msg.topic, "goods_in.completed");
    });
  });

  it("should disable, not delete, the automation of an event taken off the list", async function () {
    await load([hook("hook")]);
    await registrationStatus(helper.getNode("hook"));
    await helper.unload();
    await load([hook("hook", { register: ["goods_out.completed"] })]);
    assert.equal((await registrationStatus(helper.getNode("hook"))).text, "registered 1 event(s)");
    assert.deepEqual(
      registered().map((a) => [a.event, a.enabled]),
      [
        ["goods_in.completed", false],
        ["goods_out.completed", true],
        ["stock.placed_on_hold", false],
      ],
    );
    assert.equal(sim.automationsApi.counts.delete, 0);
  });

  context("after an upgrade from a version that named automations without an installation mark", function () {
    it("should adopt and rename the ones its registration memory remembers, keeping their ids", async function () {
      sim.automationsApi.reads = false;
      await load([hook("hook")]);
      await registrationStatus(helper.getNode("hook"));
      const ids = registered().map((a) => a.id);
      // As an earlier version left them: the same automations, named without the mark.
      for (const a of registered()) sim.updateAutomation(a.id, { name: legacyName(a.event) });
      await helper.unload();

      await load([hook("hook")]);
      assert.equal((await registrationStatus(helper.getNode("hook"))).text, "registered 3 event(s)");
      const adopted = registered();
      assert.deepEqual(
        adopted.map((a) => a.id),
        ids,
      );
      assert.ok(
        adopted.every((a) => a.name !== legacyName(a.event) && a.enabled),
        JSON.stringify(adopted),
      );
      const { create, delete: deleted } = sim.automationsApi.counts;
      assert.deepEqual([create, deleted], [3, 0], "an adopted automation was replaced");
    });

    it("should leave one it cannot prove its own, warn, and register its own beside it", async function () {
      sim.automationsApi.reads = false;
      const elsewhere = "https://staging.example.invalid/clarus/events/their-token";
      const theirs = sim.addAutomation({
        name: legacyName("goods_out.completed"),
        event: "goods_out.completed",
        url: elsewhere,
      });
      await load([hook("hook", { register: ["goods_out.completed"] })]);
      const node = helper.getNode("hook");
      assert.equal((await registrationStatus(node)).text, "registered 1 event(s)");
      const [left] = sim.store.automations.all().filter((a) => a.id === theirs);
      assert.equal(left?.name, legacyName("goods_out.completed"));
      assert.deepEqual(
        sim.webhookTargets(theirs).map((t) => t.url),
        [elsewhere],
      );
      const mine = registered().filter((a) => a.id !== theirs);
      assert.equal(mine.length, 1);
      assert.equal(mine[0].targets[0].url, `${publicUrl}/clarus/events/${TOKEN}`);
      assert.equal(warned(node, new RegExp(`${theirs}.*left alone`)).length, 1, node.warn.args.join("\n"));
      assert.equal(sim.automationsApi.counts.delete, 0);
    });
  });

  it("should leave the automations of its earlier public URL alone, and say that it registered them", async function () {
    await load([hook("hook")]);
    await registrationStatus(helper.getNode("hook"));
    const before = registered();
    await helper.unload();
    await load([hook("hook")], { connectionOverrides: { publicUrl: `${publicUrl}/moved` } });
    const node = helper.getNode("hook");
    assert.equal((await registrationStatus(node)).text, "registered 3 event(s)");
    const after = registered();
    assert.deepEqual(
      after.filter((a) => before.some((b) => b.id === a.id)),
      before,
      "the earlier automations were changed",
    );
    assert.equal(after.length, 6);
    const [warning, ...more] = warned(node, /though this installation registered them/);
    assert.deepEqual(more, []);
    for (const { id } of before) assert.ok(warning.includes(String(id)), warning);
  });

  for (const [what, answer] of [
    ["refuses", () => ({ errors: [{ message: 'Unsupported operator "name.like"' }] })],
    // As if it escaped the pattern's wildcards: a lookup that finds nothing.
    [
      "finds nothing by",
      (body) => ({ data: { automations: { all: { ...body.data.automations.all, edges: [] } } } }),
    ],
  ]) {
    it(`should find its own by exact name where the tenant ${what} a LIKE pattern, and create none twice`, async function () {
      const proxy = await startApiProxy(sim, (request, body) =>
        request.variables?.filter?.name?.like === undefined ? undefined : answer(body),
      );
      try {
        const viaProxy = { connectionOverrides: { apiUrl: proxy.url } };
        await load([hook("hook")], viaProxy);
        await registrationStatus(helper.getNode("hook"));
        const ids = registered().map((a) => a.id);
        await helper.unload();
        await load([hook("hook")], viaProxy);
        assert.equal((await registrationStatus(helper.getNode("hook"))).text, "registered 3 event(s)");
        assert.deepEqual(
          registered().map((a) => a.id),
          ids,
        );
        assert.equal(sim.automationsApi.counts.create, 3);
      } finally {
        await proxy.close();
      }
    });
  }

  it("should report an API failure mid-way and complete the registration on the next deploy", async function () {
    sim.automationsApi.setFaults([{ operation: "create", nth: 2, status: 503 }]);
    const out = await load([hook("hook")]);
    const node = helper.getNode("hook");
    assert.equal((await registrationStatus(node)).text, "registration failed (1 of 3)");
    const failed = node.error.args.find((args) => /registration with Clarus failed/.test(args[0]));
    assert.ok(failed, "no error reported");
    assert.match(failed[0], /goods_in\.completed failed: .*503/);
    assert.equal(failed[1].topic, "registration", "the error carries a message, so Catch nodes see it");
    assert.equal(registered().length, 2);
    // The node kept receiving meanwhile.
    sim.generate(1, ["goods_out.completed"]);
    await sim.flush();
    await out.waitFor(1);
    await helper.unload();

    await load([hook("hook")]);
    assert.equal((await registrationStatus(helper.getNode("hook"))).text, "registered 3 event(s)");
    assert.deepEqual(
      registered().map((a) => a.event),
      [...EVENTS].sort(),
    );
    assert.equal(sim.automationsApi.counts.create, 4);
  });

  it("should serialise two webhook-in nodes deployed at once on one connection", async function () {
    await load([hook("hook-a", { path: "/clarus/a" }), hook("hook-b", { path: "/clarus/b" })]);
    await Promise.all(["hook-a", "hook-b"].map((id) => registrationStatus(helper.getNode(id))));
    assert.equal(registered("hook-a").length, 3);
    assert.equal(registered("hook-b").length, 3);
    assert.ok(registered("hook-b").every((a) => a.targets[0].url === `${publicUrl}/clarus/b/${TOKEN}`));
    // Which node each registration call was for, in the order the simulator answered them.
    const owners = sim.requestLog
      .map((entry) => {
        if (entry.path === "/graphql")
          return JSON.stringify(entry.variables?.filter?.name ?? "").match(/hook-[ab]/)?.[0];
        if (entry.path.startsWith("/api/automations")) return "rest";
        return undefined;
      })
      .filter(Boolean);
    const creates = sim.store.automations.all().map((a) => a.name.match(/hook-[ab]/)[0]);
    // Each node's lookup and creates run as one block: the second node's lookup comes after the first's creates.
    const sequence = [];
    let restIndex = 0;
    for (const owner of owners) sequence.push(owner === "rest" ? creates[restIndex++] : owner);
    const blocks = sequence.filter((owner, i) => i === 0 || owner !== sequence[i - 1]);
    assert.equal(blocks.length, 2, `interleaved: ${sequence.join(" ")}`);
  });

  context("with bad input", function () {
    for (const [what, publicUrlValue, settings, expected] of [
      [
        "not http(s)",
        "ftp://nodered.example.com",
        {},
        /must start with https:\/\/ \(or http:\/\/\), not ftp:/,
      ],
      ["with a query string", "https://nodered.example.com/?x=1", {}, /must not have a query string/],
      [
        "with the editor's address",
        "https://nodered.example.com/#flow/ab12",
        {},
        /must not have a #fragment/,
      ],
      [
        "pointing at the editor's admin root",
        "https://nodered.example.com/admin",
        { httpAdminRoot: "/admin" },
        /ends with the editor's path \/admin \(httpAdminRoot\)/,
      ],
    ]) {
      it(`should refuse a publicUrl ${what} before any API call, and keep receiving`, async function () {
        await load([hook("hook", { event: "goods_out.completed" })], {
          connectionOverrides: { publicUrl: publicUrlValue },
          settings,
        });
        const node = helper.getNode("hook");
        const status = await registrationStatus(node);
        assert.match(status.text, /^not registered: /);
        assert.equal(status.fill, "yellow");
        const error = node.error.args.find((args) => /not registered with Clarus/.test(args[0]));
        assert.ok(error, "no error reported");
        assert.match(error[0], expected);
        assert.deepEqual(registrationCalls(), NO_REGISTRATION_CALLS);
        const res = await fetch(`${publicUrl}/clarus/events/${TOKEN}`, {
          method: "POST",
          headers: simHeaders(sim, "41"),
          body: JSON.stringify({ id: 1 }),
        });
        assert.equal(res.status, 200);
      });
    }

    it("should name the field of a 422 and never show the token Clarus echoes back", async function () {
      sim.automationsApi.setFaults([{ operation: "create", status: 422, times: 3 }]);
      await load([hook("hook")]);
      const node = helper.getNode("hook");
      assert.equal((await registrationStatus(node)).text, "registration failed (3 of 3)");
      const [message] = node.error.args.find((args) => /registration with Clarus failed/.test(args[0]));
      assert.match(message, /HTTP 422: .*\(field webhook_url\)/);
      assert.ok(message.includes("<webhook token>"), message);
      assert.ok(!everythingShown(node).includes(TOKEN), "the echoed token was logged or shown");
    });

    it("should warn when the node's own settings would refuse or misname the registered automations", async function () {
      await load([hook("hook", { automationIds: "999", event: "goods_out.completed" })]);
      const node = helper.getNode("hook");
      await registrationStatus(node);
      const warnings = node.warn.args.map((args) => String(args[0]));
      const refused = warnings.find((w) => /are not in this node's Automations list/.test(w));
      assert.ok(refused, warnings.join("\n"));
      for (const { id } of registered()) assert.ok(refused.includes(String(id)), refused);
      assert.ok(
        warnings.some((w) => /every delivery is named goods_out\.completed/.test(w)),
        warnings.join("\n"),
      );
    });

    it("should refuse an event that is not a Clarus event", async function () {
      await load([hook("hook", { register: ["goods_out.exploded"] })]);
      const node = helper.getNode("hook");
      await registrationStatus(node);
      assert.ok(
        node.error.args.some((args) => /"goods_out\.exploded" is not a known Clarus event/.test(args[0])),
      );
      assert.equal(registrationCalls().lookups, 0);
    });
  });

  context("Register now (the dialog's admin endpoint)", function () {
    function dialogBody(overrides = {}) {
      return {
        node: {
          id: "hook",
          connection: "conn",
          path: "/clarus/events",
          method: "POST",
          requireToken: true,
          register: EVENTS,
        },
        connection: { publicUrl, subdomain: sim.subdomain, apiUrl: sim.url, credentials: {} },
        ...overrides,
      };
    }

    it("should register with what the dialog holds and list what it did", async function () {
      await load([hook("hook", { register: [] })]);
      const first = await helper.request().post("/clarus-wms/register").send(dialogBody()).expect(200);
      assert.equal(first.body.url, `${publicUrl}/clarus/events/<webhook token>`);
      assert.deepEqual(
        first.body.items.map((i) => [i.event, i.outcome]),
        EVENTS.map((e) => [e, "created"]),
      );
      // A token typed in the dialog but not deployed yet is the one registered.
      const body = dialogBody();
      body.connection.credentials = { webhookToken: ROTATED };
      const second = await helper.request().post("/clarus-wms/register").send(body).expect(200);
      assert.deepEqual(
        second.body.items.map((i) => i.outcome),
        ["updated", "updated", "updated"],
      );
      assert.ok(registered().every((a) => a.targets[0].url.endsWith(`/${ROTATED}`)));
      assert.ok(!JSON.stringify(second.body).includes(ROTATED));
      const third = await helper.request().post("/clarus-wms/register").send(body).expect(200);
      assert.deepEqual(
        third.body.items.map((i) => i.outcome),
        ["exists", "exists", "exists"],
      );
    });

    it("should name the automations as this installation's deploy does, and leave another's alone", async function () {
      await load([hook("hook", { register: [] })]);
      // Another installation (another public URL) registered the same node id first.
      const other = dialogBody();
      other.connection.publicUrl = "http://staging.example.invalid:1880";
      const theirs = await helper.request().post("/clarus-wms/register").send(other).expect(200);
      const theirIds = theirs.body.items.map((i) => i.automationId);
      const ours = await helper.request().post("/clarus-wms/register").send(dialogBody()).expect(200);
      assert.deepEqual(
        ours.body.items.map((i) => i.outcome),
        ["created", "created", "created"],
      );
      assert.deepEqual(ours.body.leftAlone.map((a) => a.automationId).sort(), [...theirIds].sort());
      for (const id of theirIds) {
        assert.ok(sim.webhookTargets(Number(id))[0].url.startsWith("http://staging.example.invalid:1880/"));
      }
      await helper.unload();
      // A deploy of this installation finds what Register now made.
      await load([hook("hook")]);
      assert.equal((await registrationStatus(helper.getNode("hook"))).text, "registered 3 event(s)");
      assert.equal(sim.automationsApi.counts.create, 6);
    });

    it("should answer the reason it cannot register before any API call", async function () {
      // Deployed without a public URL, the node itself makes no call either; the dialog brings its own.
      await load([hook("hook", { register: [] })], { connectionOverrides: { publicUrl: undefined } });
      const body = dialogBody();
      body.connection.publicUrl = "https://nodered.example.com/?token=x";
      const refused = await helper.request().post("/clarus-wms/register").send(body).expect(200);
      assert.match(refused.body.error, /query string/);
      const none = await helper
        .request()
        .post("/clarus-wms/register")
        .send(dialogBody({ node: { ...dialogBody().node, register: [] } }))
        .expect(200);
      assert.match(none.body.error, /at least one event/);
      // Stored secrets are never sent to an API URL other than the deployed one.
      const elsewhere = dialogBody();
      elsewhere.connection.apiUrl = "http://127.0.0.1:9";
      const moved = await helper.request().post("/clarus-wms/register").send(elsewhere).expect(200);
      assert.match(moved.body.error, /no API credentials/);
      assert.deepEqual(registrationCalls(), NO_REGISTRATION_CALLS);
    });
  });
});
