const assert = require("node:assert/strict");

const fc = require("fast-check");
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
} = require("../helpers/node-red");

const ANSWERS = new Set([200, 400, 401, 403, 404, 405, 413, 415]);

const printable = fc.string({ unit: fc.constantFrom(..."abcXYZ019 -_./:;=?&%\"'{}[]<>\\"), maxLength: 40 });

const token = fc.oneof(
  fc.constant({ where: "path", value: TOKEN }),
  fc.constant({ where: "query", value: TOKEN }),
  fc.constant({ where: "bearer", value: TOKEN }),
  fc.record({
    where: fc.constantFrom("path", "query", "bearer"),
    value: fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/),
  }),
  fc.constant({ where: "none" }),
);

const headers = fc.record(
  Object.fromEntries(
    Object.entries(CLARUS_HEADERS).map(([name, value]) => [
      name,
      fc.oneof({ weight: 10, arbitrary: fc.constant(value) }, fc.constant(undefined), printable),
    ]),
  ),
);

const poisoned = fc
  .tuple(fc.constantFrom("__proto__", "constructor", "prototype", "\\u005f_proto__"), fc.jsonValue())
  .map(([key, value]) => `{"id":1,"nested":{"${key}":${JSON.stringify(value) ?? "null"}}}`);

const body = fc.oneof(
  fc.json(),
  fc.jsonValue().map((value) => JSON.stringify({ id: 1, goods_out_status_id: 6, value })),
  fc
    .record({ id: fc.oneof(fc.integer(), fc.string(), fc.constant(null)), data: fc.jsonValue() })
    .map((v) => JSON.stringify(v)),
  poisoned,
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
);

const contentType = fc.oneof(
  fc.constant("application/json"),
  fc.constant("application/json; charset=utf-8"),
  fc.constant(undefined),
  fc.constantFrom(
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/vnd.api+json",
    "multipart/form-data",
  ),
  printable,
);

const method = fc.oneof(
  { weight: 4, arbitrary: fc.constant("post") },
  fc.constantFrom("get", "put", "patch", "delete"),
);

describe("clarus-webhook-in under random requests", function () {
  let app;
  let out;

  before(() => helper.startServer());
  after(() => helper.stopServer());
  beforeEach(async () => {
    await helper.load(
      [connectionNode, capturingWebhookNode((httpNode) => (app = httpNode))],
      [connectionConfig(), webhookConfig({ maxBytes: 256 }), { id: "out", type: "helper" }],
      { conn: { webhookToken: TOKEN } },
    );
    out = collect(helper.getNode("out"));
  });
  afterEach(() => helper.unload());

  it("should never crash, never emit a rejected request, and still accept a valid one", async function () {
    this.timeout(120_000);
    let accepted = 0;
    let barrier = 0;
    const seen = new Set();
    await fc.assert(
      fc.asyncProperty(method, token, headers, contentType, body, async (verb, tok, hdrs, type, payload) => {
        let path = "/clarus/events";
        const sent = Object.fromEntries(Object.entries(hdrs).filter(([, v]) => v !== undefined));
        if (tok.where === "path") path += `/${encodeURIComponent(tok.value)}`;
        if (tok.where === "query") path += `?token=${encodeURIComponent(tok.value)}`;
        if (tok.where === "bearer") sent.Authorization = `Bearer ${tok.value}`;
        let req = request(app)[verb](path).set(sent);
        if (type !== undefined) req = req.set("Content-Type", type);
        const response = verb === "get" ? await req : await req.send(payload);
        assert.ok(ANSWERS.has(response.status), `unexpected ${response.status} ${response.text}`);
        seen.add(response.status);
        if (response.status === 200 && response.body.duplicate !== true) accepted++;
        if (response.status !== 200) assert.equal(response.body.ok, false);

        // A valid delivery after every random one: it must be accepted, and must be the next message.
        barrier++;
        await request(app)
          .post(`/clarus/events/${TOKEN}`)
          .set(CLARUS_HEADERS)
          .send({ id: `barrier-${barrier}`, goods_out_status_id: 6 })
          .expect(200, { ok: true });
        const received = await out.waitFor(accepted + barrier);
        assert.equal(received.length, accepted + barrier);
        assert.equal(received[received.length - 1].payload.id, `barrier-${barrier}`);
      }),
      { numRuns: 1000 },
    );
    // The generator must reach both the accepting path and the rejecting checks to prove anything.
    assert.ok(accepted > 0, "no random request was accepted");
    assert.ok(seen.size >= 4, `only answers ${[...seen].join(", ")} were exercised`);
  });
});
