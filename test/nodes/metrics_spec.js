// The counters and their Prometheus exposition after a scripted mix of what a connection meets: webhook
// deliveries, repeats, every kind of refusal, events only the poll found, poll runs, dead letters. The
// exposition is read back by a Prometheus text-format parser, not by our own code.
const assert = require("node:assert/strict");

const parsePrometheus = require("parse-prometheus-text-format");

const { helper, TOKEN } = require("../helpers/node-red");
const { startWarehouse, simHeaders } = require("../helpers/clarus-sim");
const { eventually } = require("../helpers/eventually");

/** `{ name: [{ labels, value }] }` from a scrape; histogram series as the parser gives them. */
async function scrape() {
  const res = await helper.request().get("/clarus-wms/metrics").expect(200);
  assert.match(res.headers["content-type"], /^text\/plain;.*version=0\.0\.4/);
  return {
    raw: res.text,
    ...Object.fromEntries(parsePrometheus(res.text).map((family) => [family.name, family])),
  };
}

/**
 * The samples of one family as "label=value,… -> value" lines, sorted, for exact comparison; with `before`
 * (an earlier scrape), what was added since, leaving out what did not change. Counters count since the
 * process started, across every test of this process, so a test reads what its own script added.
 */
function samples(family, before) {
  const key = (m) =>
    Object.entries(m.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join(",");
  const earlier = new Map((before?.metrics ?? []).map((m) => [key(m), Number(m.value)]));
  return (family?.metrics ?? [])
    .map((m) => [key(m), Number(m.value) - (earlier.get(key(m)) ?? 0)])
    .filter(([, value]) => before === undefined || value !== 0)
    .map(([labels, value]) => `${labels} -> ${value}`)
    .sort();
}

describe("metrics: counters and the Prometheus exposition", function () {
  this.timeout(30_000);
  let warehouse;

  before(() => helper.startServer());
  after(() => helper.stopServer());
  afterEach(async () => {
    await warehouse?.stop();
    warehouse = undefined;
    helper.settings({});
  });

  it("should count a scripted mix exactly, by event, source and reason", async function () {
    warehouse = await startWarehouse({ connection: { name: "acme" } });
    await warehouse.load();
    const before = await scrape();
    const { sim, url } = warehouse;
    const goodsOut = warehouse.automations.find((a) => a.event === "goods_out.completed").id;
    const headers = simHeaders(sim, goodsOut);

    // 5 dispatches by webhook, and one of them delivered again.
    sim.generate(5, ["goods_out.completed"]);
    await sim.flush();
    await warehouse.out.waitFor(5);
    const first = warehouse.out.received[0].payload;
    assert.deepEqual(await (await warehouse.deliver(goodsOut, first)).json(), { ok: true, duplicate: true });

    // One refusal of each kind a sender can cause.
    const body = JSON.stringify({ id: 1 });
    const refusals = [
      [`${url.replace(TOKEN, "wrong")}`, { method: "POST", headers, body }, 401],
      [url.replace(`/${TOKEN}`, ""), { method: "POST", headers, body }, 401],
      [url, { method: "POST", headers: { ...headers, "X-ClarusWMS-Subdomain": "someone-else" }, body }, 403],
      [url, { method: "POST", headers: { ...headers, "Content-Type": "text/plain" }, body }, 415],
      [url, { method: "POST", headers, body: "[1, 2]" }, 400],
      [url, { method: "PUT", headers, body }, 405],
    ];
    for (const [target, init, status] of refusals) assert.equal((await fetch(target, init)).status, status);

    // 4 goods-in receipts whose webhooks are lost: only the poll brings them. The dispatch poll finds the 5
    // dispatches the webhooks brought: duplicates from the poll.
    sim.setWebhookOptions({ dropRate: 1 });
    sim.generate(4, ["goods_in.completed"]);
    await sim.flush();
    await warehouse.runOnce("poll0");
    await warehouse.runOnce("poll1");
    await warehouse.out.waitFor(9);

    const metrics = await scrape();
    assert.deepEqual(samples(metrics.clarus_events_total, before.clarus_events_total), [
      "connection=acme,event=goods_in.completed,source=poll -> 4",
      "connection=acme,event=goods_out.completed,source=webhook -> 5",
    ]);
    assert.deepEqual(samples(metrics.clarus_duplicates_total, before.clarus_duplicates_total), [
      "connection=acme,event=goods_out.completed,source=poll -> 5",
      "connection=acme,event=goods_out.completed,source=webhook -> 1",
    ]);
    assert.deepEqual(samples(metrics.clarus_poll_only_events_total, before.clarus_poll_only_events_total), [
      "connection=acme,event=goods_in.completed -> 4",
    ]);
    assert.deepEqual(samples(metrics.clarus_webhook_rejected_total, before.clarus_webhook_rejected_total), [
      "connection=acme,reason=content-type -> 1",
      "connection=acme,reason=identity -> 1",
      "connection=acme,reason=malformed -> 1",
      "connection=acme,reason=method -> 1",
      "connection=acme,reason=token -> 2",
    ]);
    assert.deepEqual(samples(metrics.clarus_poll_runs_total, before.clarus_poll_runs_total), [
      "connection=acme,outcome=ok,stream=goods_in.completed -> 1",
      "connection=acme,outcome=ok,stream=goods_out.completed -> 1",
    ]);
    assert.deepEqual(samples(metrics.clarus_store_up), ["connection=acme -> 1"]);
    // Nothing registered here, so nothing to repair (the drift specs count repairs).
    assert.deepEqual(samples(metrics.clarus_automation_repairs_total), [
      "connection=acme,kind=deleted -> 0",
      "connection=acme,kind=disabled -> 0",
      "connection=acme,kind=re-pointed -> 0",
    ]);
    assert.deepEqual(samples(metrics.clarus_inbox_pending), ["connection=acme -> 0"]);
    assert.deepEqual(samples(metrics.clarus_inbox_oldest_pending_seconds), ["connection=acme -> 0"]);
    // The warehouse's connection has a client id and secret: its token was obtained.
    assert.deepEqual(samples(metrics.clarus_api_up), ["connection=acme -> 1"]);
    assert.deepEqual(samples(metrics.clarus_automations), [
      "connection=acme,state=drifted -> 0",
      "connection=acme,state=failed -> 0",
      "connection=acme,state=missing -> 0",
      "connection=acme,state=ok -> 0",
    ]);
    // The two streams that ran have a watermark, at most the few seconds of this test old.
    const watermarks = metrics.clarus_poll_watermark_age_seconds.metrics;
    assert.deepEqual(watermarks.map((m) => m.labels.stream).sort(), [
      "goods_in.completed",
      "goods_out.completed",
    ]);
    for (const m of watermarks) assert.ok(Number(m.value) >= 0 && Number(m.value) < 30, m.value);
    // The parser keeps a histogram's buckets but not its labels, so the count is read from the text itself.
    const answered = (scraped) =>
      Number(/^clarus_webhook_ack_seconds_count\{connection="acme"\} (\d+)$/m.exec(scraped.raw)?.[1] ?? 0);
    assert.equal(answered(metrics) - answered(before), 6, "five fresh and one duplicate answered 200");
    const seen = metrics.clarus_last_event_timestamp_seconds.metrics.map((m) => m.labels.source).sort();
    assert.deepEqual(seen, ["poll", "webhook"]);
  });

  it("should show pending events and dead letters of the inbox (on-confirm)", async function () {
    warehouse = await startWarehouse({
      connection: { name: "acme", delivery: "on-confirm", redeliverSeconds: 1, maxAttempts: 1 },
    });
    await warehouse.load();
    warehouse.sim.generate(3, ["goods_out.completed"]);
    await warehouse.sim.flush();
    await warehouse.out.waitFor(3);
    const admitted = Date.now();
    // Nobody confirms: pending now, dead letters once they come due after their one attempt.
    const pending = await scrape();
    assert.deepEqual(samples(pending.clarus_inbox_pending), ["connection=acme -> 3"]);
    const [oldest] = pending.clarus_inbox_oldest_pending_seconds.metrics;
    assert.ok(
      Number(oldest.value) > 0 && Number(oldest.value) <= (Date.now() - admitted) / 1000 + 1,
      oldest.value,
    );
    let dead;
    await eventually(
      async () => {
        dead = samples((await scrape()).clarus_dead_letters);
        return dead[0] === "connection=acme -> 3";
      },
      { what: "three dead letters" },
    );
    const after = await scrape();
    assert.deepEqual(samples(after.clarus_inbox_pending), ["connection=acme -> 0"]);
    assert.deepEqual(samples(after.clarus_inbox_oldest_pending_seconds), ["connection=acme -> 0"]);
  });

  it("should keep attacker-chosen values out of the labels", async function () {
    warehouse = await startWarehouse({ connection: { name: "acme" } });
    await warehouse.load();
    const { sim, url } = warehouse;
    for (let i = 0; i < 30; i++) {
      const headers = { ...simHeaders(sim, `9${i}${"x".repeat(i)}`), "X-ClarusWMS-Subdomain": `evil-${i}` };
      await fetch(url, {
        method: "POST",
        headers,
        body: JSON.stringify({ id: `evil-${i}`, event: `evil.${i}` }),
      });
      // A delivery of an automation nobody knows, with an event-shaped payload: classified as unknown.
      await fetch(url, {
        method: "POST",
        headers: { ...simHeaders(sim, String(800000 + i)) },
        body: JSON.stringify({ id: 700000 + i, resource: `evil${i}`, event: `made.up.${i}` }),
      });
    }
    const metrics = await scrape();
    const { raw, ...families } = metrics;
    assert.doesNotMatch(raw, /evil|made\.up|x{3}/);
    const values = Object.values(families).flatMap((family) =>
      (family.metrics ?? []).flatMap((m) => Object.values(m.labels ?? {})),
    );
    assert.deepEqual(
      values.filter((v) => /evil|made\.up|x{3}/.test(v)),
      [],
      "label values taken from requests",
    );
    assert.ok(
      samples(metrics.clarus_events_total, before.clarus_events_total).every((line) =>
        /event=(unknown|[a-z_]+\.[a-z_]+),/.test(line),
      ),
    );
  });
});
