const assert = require("node:assert/strict");

const { startSimulator, SCHEMA_DIALECTS } = require("../../../build/dev/sim/index.js");
const { ClarusClient } = require("../../../build/nodes/lib/api/client.js");
const { TenantSchema, isSchemaMismatch } = require("../../../build/nodes/lib/schema/tenant-schema.js");
const { documentedSchema } = require("../../../build/nodes/lib/schema/documented-schema.js");
const { fitSelection, rootList } = require("../../../build/nodes/lib/schema/schema-model.js");
const { parseSelection, printSelection } = require("../../../build/nodes/lib/schema/selection.js");
const { planStream } = require("../../../build/nodes/lib/poll/stream-plans.js");
const { TRANSACTION_SUBTYPE_EVENTS } = require("../../../build/nodes/lib/events/classify.js");
const { startApiProxy } = require("../../helpers/api-proxy");

const STREAMS = ["goods_out.completed", "goods_in.completed", "stock.transactions"];

function clientFor(url, sim) {
  return new ClarusClient({
    apiUrl: url,
    subdomain: sim.subdomain,
    accessToken: "static",
    retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
  });
}

/** The plan of every built-in stream on a schema model, by stream name. */
function plans(model) {
  return Object.fromEntries(
    STREAMS.map((name) => [name, planStream(name, model, TRANSACTION_SUBTYPE_EVENTS)]),
  );
}

describe("the tenant's schema: introspection, the documented minimum and stream plans", function () {
  const sims = {};
  const readings = {};

  before(async function () {
    for (const dialect of SCHEMA_DIALECTS) {
      sims[dialect] = await startSimulator({ history: 0, schema: dialect, staticToken: "static" });
      readings[dialect] = await new TenantSchema(clientFor(sims[dialect].url, sims[dialect])).read();
    }
  });

  after(() => Promise.all(Object.values(sims).map((sim) => sim.stop())));

  context("selections", function () {
    it("should parse and print a selection with nested fields and alternatives", function () {
      const nodes = parseSelection("id status { code name } | status_id lines { id }");
      assert.equal(printSelection(nodes), "id status { code name } lines { id }");
      assert.deepEqual(nodes[1].or, [{ name: "status_id" }]);
      assert.throws(() => parseSelection("id { name"), /not closed/);
      assert.throws(() => parseSelection("id }"), /unexpected "}"/);
    });

    it("should keep the wanted fields a type has and list the rest once", function () {
      const model = documentedSchema();
      const goodsOuts = rootList(model, "goods_outs");
      const wanted = parseSelection(
        "id customer_id goods_out_status { id code } carrier { id code } | carrier_id lines { id } reference { x }",
      );
      const fitted = fitSelection(model, goodsOuts.nodeType, wanted);
      assert.equal(printSelection(fitted.nodes), "id goods_out_status { code } carrier { id code }");
      assert.deepEqual(fitted.missing, ["customer_id", "goods_out_status.id", "lines", "reference"]);
    });
  });

  context("reading the schema", function () {
    it("should read each dialect by introspection, in one request", function () {
      for (const dialect of SCHEMA_DIALECTS) {
        assert.equal(readings[dialect].model.source, "introspection", dialect);
        assert.equal(readings[dialect].fallbackReason, undefined);
        assert.equal(sims[dialect].requests.introspection, 1);
        assert.ok(readings[dialect].types > 30, `${dialect}: ${readings[dialect].types} types`);
      }
    });

    it("should share one request between concurrent readers and ask again after invalidate()", async function () {
      const sim = sims.rich;
      const schema = new TenantSchema(clientFor(sim.url, sim));
      const before = sim.requests.introspection;
      const [a, b, c] = await Promise.all([schema.read(), schema.read(), schema.read()]);
      assert.ok(a === b && b === c);
      assert.equal(sim.requests.introspection, before + 1);
      schema.invalidate();
      await schema.read();
      assert.equal(sim.requests.introspection, before + 2);
    });

    it("should let a caller's abort end its own wait, not the shared reading", async function () {
      const sim = sims.rich;
      const schema = new TenantSchema(clientFor(sim.url, sim));
      sim.setFaults({ slowMs: 200, slowRate: 1 });
      try {
        const controller = new AbortController();
        const aborted = schema.read(controller.signal);
        const patient = schema.read();
        controller.abort(new Error("this caller left"));
        await assert.rejects(aborted, /this caller left/);
        assert.equal((await patient).model.source, "introspection");
      } finally {
        sim.clearFaults();
      }
    });

    for (const [name, rewrite, reason] of [
      [
        "GraphQL errors",
        () => ({ errors: [{ message: "Introspection is disabled" }], data: null }),
        /introspection refused: GraphQL errors: Introspection is disabled/,
      ],
      ["garbage", () => "[1, 2, 3]", /not a GraphQL response/],
      [
        "a JSON object that is no schema",
        () => ({ data: { __schema: { types: "many" } } }),
        /not a schema \(__schema has no list of types\)/,
      ],
    ]) {
      it(`should fall back to the documented fields when introspection answers ${name}`, async function () {
        const sim = sims.rich;
        const proxy = await startApiProxy(sim, (request, body) =>
          request.query.includes("__schema") ? rewrite(body) : undefined,
        );
        try {
          const reading = await new TenantSchema(clientFor(proxy.url, sim)).read();
          assert.equal(reading.model.source, "documented");
          assert.match(reading.fallbackReason, reason);
        } finally {
          await proxy.close();
        }
      });
    }

    it("should fall back to the documented fields on HTTP 4xx, and not remember a network failure", async function () {
      const sim = sims.rich;
      const proxy = await startApiProxy(sim, () => undefined, {
        status: (request) => (request.query.includes("__schema") ? 403 : undefined),
      });
      try {
        const reading = await new TenantSchema(clientFor(proxy.url, sim)).read();
        assert.equal(reading.model.source, "documented");
        assert.match(reading.fallbackReason, /HTTP 403/);
      } finally {
        await proxy.close();
      }
      const unreachable = new TenantSchema(clientFor("http://127.0.0.1:9", sim));
      // Not remembered as a reason to use the documented fields: the next reader asks again.
      await assert.rejects(unreachable.read(), /cannot be reached \(ECONNREFUSED\)/);
      await assert.rejects(unreachable.read(), /cannot be reached \(ECONNREFUSED\)/);
    });

    for (const [name, faults, said] of [
      ["a burst of 429", { rateLimit: 1, retryAfterSeconds: 0 }, /HTTP 429/],
      ["408 Request Timeout", { requestTimeout: 1 }, /HTTP 408/],
    ]) {
      it(`should not pin the documented fields on ${name} while the schema is first read`, async function () {
        const sim = sims.rich;
        const schema = new TenantSchema(clientFor(sim.url, sim));
        sim.setFaults(faults);
        try {
          // A transient answer, as the client's retries left it: the caller's run fails and is made again.
          await assert.rejects(schema.read(), said);
        } finally {
          sim.clearFaults();
        }
        const reading = await schema.read();
        assert.equal(reading.model.source, "introspection");
        assert.equal(reading.fallbackReason, undefined);
      });
    }

    it("should read a fallback schema again after an hour, and keep it while the new read fails", async function () {
      const sim = sims.rich;
      let now = Date.parse("2026-12-01T08:00:00Z");
      const schema = new TenantSchema(clientFor(sim.url, sim), { now: () => now });
      sim.setFaults({ graphqlErrors: 1 });
      const refused = await schema.read();
      sim.clearFaults();
      assert.equal(refused.model.source, "documented");
      assert.match(refused.fallbackReason, /introspection refused/);
      const before = sim.requests.introspection;
      now += 59 * 60_000;
      assert.equal(await schema.read(), refused, "within the hour the fallback stands");
      assert.equal(sim.requests.introspection, before);

      // Due again, but the tenant is busy: the fallback still serves, and is read again on a later call.
      now += 2 * 60_000;
      sim.setFaults({ rateLimit: 1, retryAfterSeconds: 0 });
      try {
        assert.equal(await schema.read(), refused);
      } finally {
        sim.clearFaults();
      }
      const reread = await schema.read();
      assert.equal(reread.model.source, "introspection");
      assert.equal(reread.fallbackReason, undefined);
      assert.equal(await schema.read(), reread, "a schema read by introspection is kept");
    });

    it("should not fall back to the documented fields when Clarus does not know the subdomain", async function () {
      const sim = sims.rich;
      const unknown = new ClarusClient({
        apiUrl: sim.url,
        subdomain: "nobody",
        accessToken: "static",
        retry: { maxAttempts: 1 },
      });
      await assert.rejects(new TenantSchema(unknown).read(), /does not know the subdomain/);
    });

    it("should tell a validation error (the schema changed) from other GraphQL errors", async function () {
      const client = clientFor(sims.documented.url, sims.documented);
      const invalid = await client
        .graphql("{ goods_outs { all { edges { node { customer_id } } } } }")
        .catch((error) => error);
      assert.equal(isSchemaMismatch(invalid), true);
      sims.documented.setFaults({ graphqlErrors: 1 });
      const failed = await client.graphql("{ goods_outs { all { edges { node { id } } } } }").catch((e) => e);
      sims.documented.clearFaults();
      assert.equal(isSchemaMismatch(failed), false);
    });
  });

  context("planning the built-in streams", function () {
    it("should plan every built-in stream on every dialect and on the documented model", function () {
      const models = { ...Object.fromEntries(SCHEMA_DIALECTS.map((d) => [d, readings[d].model])) };
      models["documented (no introspection)"] = documentedSchema();
      for (const [name, model] of Object.entries(models)) {
        for (const [stream, plan] of Object.entries(plans(model))) {
          assert.ok(plan.stream, `${name} ${stream}: ${plan.failure}`);
        }
      }
    });

    it("should plan from the documented model what the documented dialect answers without errors", async function () {
      const sim = sims.documented;
      const client = clientFor(sim.url, sim);
      const fromDocs = plans(documentedSchema());
      const introspected = plans(readings.documented.model);
      for (const stream of STREAMS) {
        const { query, variables } = fromDocs[stream].stream;
        const data = await client.graphql(query, { ...variables(new Date(0).toISOString()), first: 5 });
        assert.ok(Object.keys(data).length === 1, stream);
        assert.equal(fromDocs[stream].stream.description, introspected[stream].stream.description, stream);
      }
    });

    it("should use the task relations the schema has, else the documented fallback", function () {
      const rich = plans(readings.rich.model);
      assert.match(
        rich["goods_out.completed"].stream.description,
        /DISP tasks .*\(through goods_out \{ id \}, by id with in\)/,
      );
      assert.match(
        rich["goods_in.completed"].stream.description,
        /RCV and PWAY tasks .*\(through goods_in_receipt_line \{ goods_in_receipt \{ id \} \}, by id with in\)/,
      );
      const scalar = plans(readings.scalar.model);
      // Tasks give goods_out_id, but goods_outs cannot be filtered by id: the fallback.
      assert.match(
        scalar["goods_out.completed"].stream.description,
        /documented fallback.*by reference with in/,
      );
      assert.match(
        scalar["goods_in.completed"].stream.description,
        /\(through goods_in_receipt_id, by id with eq\)/,
      );
      const documented = plans(readings.documented.model);
      assert.match(
        documented["goods_out.completed"].stream.description,
        /expected_date_of_dispatch .*documented fallback/,
      );
      assert.match(
        documented["goods_in.completed"].stream.description,
        /expected_date_of_receipt .*documented fallback/,
      );
      for (const plan of [rich, scalar, documented]) {
        assert.match(plan["stock.transactions"].stream.description, /subtype ADJUP, ADJDOWN, HOLD, OFFHOLD$/);
      }
    });

    it("should ask the documented dialect for documented fields only and list what it lacks", function () {
      const { stream } = planStream(
        "goods_out.completed",
        readings.documented.model,
        TRANSACTION_SUBTYPE_EVENTS,
      );
      assert.match(
        stream.query,
        /node \{ id reference goods_out_status \{ code name \} expected_date_of_dispatch priority account \{ id code name \} warehouse \{ id code name \} carrier \{ id code \} \}/,
      );
      assert.ok(
        stream.missing.includes("goods_outs.customer_id") && stream.missing.includes("goods_outs.lines"),
      );
      assert.ok(!stream.missing.includes("goods_outs.carrier"));
    });

    it("should name the missing piece and point to a custom stream when a stream cannot be built", async function () {
      const sim = await startSimulator({
        history: 0,
        schema: "documented",
        staticToken: "static",
        schemaWithout: ["TransactionFilterType.created_at", "GoodsOutsFilterType.expected_date_of_dispatch"],
      });
      try {
        const { model } = await new TenantSchema(clientFor(sim.url, sim)).read();
        const all = plans(model);
        assert.equal(
          all["stock.transactions"].failure,
          "stock.transactions cannot be polled on this tenant's schema: transactions cannot be filtered by " +
            "created_at (from). Use a custom stream with a query that fits the schema.",
        );
        assert.equal(all["stock.transactions"].short, "no created_at filter");
        assert.match(
          all["goods_out.completed"].failure,
          /tasks point at no goods_outs record .*, and goods_outs cannot be filtered by expected_date_of_dispatch \(from\)\. Use a custom stream/,
        );
        assert.ok(all["goods_in.completed"].stream, "the stream the schema still serves is planned");
      } finally {
        await sim.stop();
      }
    });
  });
});
