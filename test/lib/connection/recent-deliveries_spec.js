// What webhook-in keeps of its last deliveries for the editor's Clarus tab: bounded per node, newest first,
// forgotten with the node, and never the webhook token, wherever a sender or a proxy put it (a fuzz of
// placements and encodings).
const assert = require("node:assert/strict");

const { RecentDeliveries } = require("../../../build/nodes/lib/connection/recent-deliveries.js");
const { redactTokenDeep } = require("../../../build/nodes/lib/node-red/redact.js");
const { captureCountOf } = require("../../../build/nodes/lib/webhook/settings.js");

const TOKEN = "t0k+en/with=odd&chars~Ü";

function delivery(id, { headers = {}, body = { id } } = {}) {
  return {
    headers: { "x-claruswms-automation-id": "43", ...headers },
    body: Buffer.from(JSON.stringify(body)),
    msg: {
      _msgid: `m${id}`,
      topic: "goods_out.completed",
      payload: body,
      clarus: { event: "goods_out.completed", automationId: "43", duplicate: false, dedupeKey: `k${id}` },
    },
  };
}

/** Every way the token could be written in a text: as is, and URL-encoded in upper or lower case hex. */
function forms(token) {
  const encoded = encodeURIComponent(token);
  return [token, encoded, encoded.toLowerCase(), encodeURI(token)];
}

/** A small deterministic generator, so a failing case can be run again. */
function random(seed) {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe("recent deliveries", function () {
  it("should keep the last `captureCount` per node, newest first, and forget a node's with it", function () {
    const recent = new RecentDeliveries(() => TOKEN);
    for (let id = 1; id <= 5; id++) recent.capture("hook", 3, delivery(id));
    recent.capture("other", 3, delivery(9));
    const ids = recent.list().map((d) => d.payload.id);
    assert.deepEqual(ids.slice().sort(), [3, 4, 5, 9]);
    assert.deepEqual(
      recent
        .list()
        .filter((d) => d.node === "hook")
        .map((d) => d.payload.id),
      [5, 4, 3],
    );
    recent.forget("hook");
    assert.deepEqual(
      recent.list().map((d) => d.node),
      ["other"],
    );
  });

  it("should keep nothing with captureCount 0", function () {
    const recent = new RecentDeliveries(() => TOKEN);
    recent.capture("hook", 0, delivery(1));
    assert.deepEqual(recent.list(), []);
  });

  it("should show the body as received, whatever the flow did to msg.payload since", function () {
    const recent = new RecentDeliveries(() => TOKEN);
    const kept = delivery(1);
    recent.capture("hook", 5, kept);
    kept.msg.payload.id = "changed by the flow";
    assert.equal(recent.list()[0].payload.id, 1);
  });

  it("should give a kept delivery back as a message marked replayed, with its own id", function () {
    const recent = new RecentDeliveries(() => TOKEN);
    recent.capture("hook", 5, delivery(1, { body: { id: 1, echo: TOKEN } }));
    const { node, msg } = recent.message("m1", "new-id");
    assert.equal(node, "hook");
    assert.equal(msg._msgid, "new-id");
    assert.equal(msg.clarus.replayed, true);
    assert.equal(msg.clarus.duplicate, false);
    assert.ok(!JSON.stringify(msg).includes(TOKEN));
    assert.equal(recent.message("unknown", "x"), undefined);
  });

  it("should never give the token back, wherever it was placed (fuzz)", function () {
    const next = random(42);
    const pick = (items) => items[Math.floor(next() * items.length)];
    for (let round = 0; round < 500; round++) {
      const form = pick(forms(TOKEN));
      const around = (text) => pick([text, `x${text}`, `${text}y`, `/a/${text}?b=${text}`, ` ${text} `]);
      const recent = new RecentDeliveries(() => TOKEN);
      const headers = {};
      const body = { id: round };
      // Header values a proxy may add (the URL with the token in its path or query), credentials, body echoes.
      for (let n = 0; n < 3; n++) {
        const place = pick([
          "header",
          "header-name",
          "authorization",
          "cookie",
          "body",
          "key",
          "nested",
          "array",
        ]);
        const text = around(form);
        if (place === "header")
          headers[pick(["x-original-uri", "x-forwarded-uri", "referer", "x-any"])] = text;
        if (place === "header-name") headers[`x-${form.toLowerCase()}`] = "1";
        if (place === "authorization") headers.authorization = `Bearer ${text}`;
        if (place === "cookie") headers.cookie = `t=${text}`;
        if (place === "body") body[`f${n}`] = text;
        if (place === "key") body[text] = n;
        if (place === "nested") body.nested = { deeper: [{ value: text }] };
        if (place === "array") body.list = [1, text, [text]];
      }
      recent.capture("hook", 5, delivery(round, { headers, body }));
      const shown = JSON.stringify(recent.list());
      for (const written of forms(TOKEN)) {
        assert.ok(!shown.includes(written), `round ${round}: ${written} in ${shown}`);
      }
      assert.ok(!JSON.stringify(recent.message(`m${round}`, "n")).includes(TOKEN), `round ${round}`);
    }
  });

  it("should leave texts without the token as they are", function () {
    const value = { a: "100%", b: ["%E0%A4%A", "plain"], "c%20d": 1 };
    assert.deepEqual(redactTokenDeep(value, TOKEN), value);
  });

  it("should read captureCount: empty is the default of 20 (a node saved before it existed), 0 to 200", function () {
    assert.equal(captureCountOf({}), 20);
    assert.equal(captureCountOf({ captureCount: "" }), 20);
    assert.equal(captureCountOf({ captureCount: 0 }), 0);
    assert.equal(captureCountOf({ captureCount: "200" }), 200);
    assert.throws(() => captureCountOf({ captureCount: 201 }), /from 0 to 200/);
    assert.throws(() => captureCountOf({ captureCount: "-1" }), /from 0 to 200/);
  });
});
