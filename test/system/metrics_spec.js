// GET /clarus-wms/metrics in a real Node-RED with adminAuth: refused without the admin credentials, served to a
// Prometheus bearer token of adminAuth.tokens that has only the read permission the route asks for.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const parsePrometheus = require("parse-prometheus-text-format");

const { CLARUS_HEADERS, connectionConfig, dispatched, webhookConfig } = require("../helpers/fixtures");
const {
  freePort,
  linkPackage,
  makeTempDir,
  removeDir,
  request,
  startNodeRed,
  writeSettings,
} = require("../helpers/red-process");

const PROMETHEUS_TOKEN = "prometheus-scrape-token-0123456789";

describe("metrics behind Node-RED's admin auth (a real Node-RED)", function () {
  this.timeout(60_000);
  let tmp;
  let port;
  let red;

  before(async function () {
    tmp = makeTempDir("clarus-metrics-");
    const userDir = path.join(tmp, "userDir");
    linkPackage(userDir, { name: "clarus-metrics-test" });
    port = await freePort();
    writeSettings({
      userDir,
      port,
      extraSource: `{
        adminAuth: {
          type: "credentials",
          users: [{ username: "admin", password: "$2b$08$wuAqPiKJlVN27eF5qJp.RuQYuy6ZYONW7a/UWYxDTtwKFCdB8F19y", permissions: "*" }],
          tokens: (token) => Promise.resolve(
            token === ${JSON.stringify(PROMETHEUS_TOKEN)} ? { user: "prometheus", permissions: "clarus-connection.read" } : null,
          ),
        },
      }`,
    });
    // Deployed from the flow file: the admin API itself is behind the auth under test.
    const flows = [
      { id: "tab", type: "tab", label: "metrics" },
      connectionConfig({ name: "acme" }),
      webhookConfig({ z: "tab", requireToken: false, wires: [[]] }),
    ];
    fs.writeFileSync(path.join(userDir, "flows.json"), JSON.stringify(flows));
    red = await startNodeRed({ userDir, port });
  });

  after(async function () {
    if (red) await red.kill();
    removeDir(tmp);
  });

  const scrape = (headers = {}) => request({ port, path: "/clarus-wms/metrics", headers });

  it("should refuse a scrape without the admin credentials, or with a token adminAuth does not know", async function () {
    assert.equal((await scrape()).status, 401);
    assert.equal((await scrape({ Authorization: "Bearer not-the-token" })).status, 401);
  });

  it("should serve a Prometheus bearer token with only the read permission, and count what came", async function () {
    const answer = await request({
      port,
      method: "POST",
      path: "/clarus/events",
      headers: { ...CLARUS_HEADERS, "Content-Type": "application/json" },
      body: dispatched(9001),
    });
    assert.equal(answer.status, 200, answer.text);
    const res = await scrape({ Authorization: `Bearer ${PROMETHEUS_TOKEN}` });
    assert.equal(res.status, 200, res.text);
    const events = parsePrometheus(res.text).find((family) => family.name === "clarus_events_total");
    assert.deepEqual(
      events.metrics.map((m) => [m.labels.connection, m.labels.event, m.labels.source, Number(m.value)]),
      [["acme", "goods_out.completed", "webhook", 1]],
    );
  });
});
