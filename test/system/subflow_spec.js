// Nodes inside a subflow instance: Node-RED (3.1+) names them `<instance id>-<id in the subflow>`, the same at
// every start, so their state (the poll's watermark, the webhook-in's pending events, the connection's files)
// survives a restart; Node-RED never tells them they are removed, so disabling the instance must keep that
// state and deleting it must delete it. Tried in a real Node-RED.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const { startSimulator } = require("../../build/dev/sim/index.js");
const { simHeaders } = require("../helpers/clarus-sim");
const { eventually } = require("../helpers/eventually");
const { TOKEN, dispatched } = require("../helpers/fixtures");
const { fileRecorder, readLines, waitForFile } = require("../helpers/output-file");
const {
  deployFlows,
  freePort,
  linkPackage,
  makeTempDir,
  removeDir,
  startNodeRed,
  writeSettings,
} = require("../helpers/red-process");

const TAB = "subflow-tab";
const HOOK_PATH = "/clarus/in-a-subflow";

/** A subflow holding a connection, a webhook-in and a poll; one instance of it wired to a recorder. */
function subflowFlows({ sim, output, withCredentials, instance = "enabled" }) {
  return [
    { id: TAB, type: "tab", label: "subflow" },
    {
      id: "sf",
      type: "subflow",
      name: "Clarus inside",
      in: [],
      out: [{ x: 500, y: 80, wires: [{ id: "sf-hook", port: 0 }] }],
      env: [],
    },
    {
      id: "sf-conn",
      type: "clarus-connection",
      z: "sf",
      name: "tenant",
      subdomain: sim.subdomain,
      domain: sim.domain,
      apiUrl: sim.url,
      automations: [{ id: "41", event: "goods_out.completed" }],
      delivery: "on-confirm",
      redeliverSeconds: 3600,
      ...(withCredentials
        ? { credentials: { clientId: sim.clientId, clientSecret: sim.clientSecret, webhookToken: TOKEN } }
        : {}),
    },
    {
      id: "sf-hook",
      type: "clarus-webhook-in",
      z: "sf",
      connection: "sf-conn",
      path: HOOK_PATH,
      method: "POST",
      event: "auto",
      requireToken: true,
      x: 200,
      y: 80,
      wires: [[]],
    },
    {
      id: "sf-poll",
      type: "clarus-poll",
      z: "sf",
      connection: "sf-conn",
      stream: "stock.transactions",
      intervalMinutes: 60,
      lookbackMinutes: 10,
      runOnStart: true,
      x: 200,
      y: 160,
      wires: [[]],
    },
    ...(instance === "deleted"
      ? []
      : [
          {
            id: "instance",
            type: "subflow:sf",
            z: TAB,
            x: 140,
            y: 80,
            wires: [["record"]],
            ...(instance === "disabled" ? { d: true } : {}),
          },
        ]),
    ...fileRecorder({
      id: "record",
      z: TAB,
      file: output,
      func: "msg.payload = JSON.stringify({ id: msg.payload.id, attempt: msg.clarus.attempt });\nreturn msg;",
      x: 320,
    }),
  ];
}

describe("nodes inside a subflow keep their state across restarts (a real Node-RED)", function () {
  this.timeout(120_000);

  let tmp;
  let userDir;
  let port;
  let red;
  let sim;
  let output;

  const stateFiles = () =>
    fs
      .readdirSync(path.join(userDir, "clarus"))
      // Not the temp files of a write under way: they are renamed over the file a moment later.
      .filter((name) => /^(poll|inbox|dedupe)-[^.]+\.(journal|json|log)$/.test(name))
      // The dedupe store's snapshot (.json) joins its journal at the first close: one store, one name.
      .map((name) => name.replace(/\.(journal|json|log)$/, ""))
      .filter((name, index, all) => all.indexOf(name) === index)
      .sort();
  const lines = () => readLines(output, JSON.parse);

  before(async function () {
    tmp = makeTempDir("clarus-subflow-");
    userDir = path.join(tmp, "userDir");
    output = path.join(tmp, "output", "events.jsonl");
    linkPackage(userDir, { name: "clarus-subflow-test" });
    port = await freePort();
    writeSettings({ userDir, port });
    sim = await startSimulator({ history: 0, seed: 3 });
    red = await startNodeRed({ userDir, port });
    await deployFlows(red, subflowFlows({ sim, output, withCredentials: true }));
  });

  after(async function () {
    if (red) await red.kill();
    if (sim) await sim.stop();
    removeDir(tmp);
  });

  it("should send a pending event again after a restart, from the same files and the same poll state", async function () {
    const res = await fetch(`http://127.0.0.1:${port}${HOOK_PATH}/${TOKEN}`, {
      method: "POST",
      headers: simHeaders(sim, 41),
      body: JSON.stringify(dispatched(7301)),
    });
    assert.equal(res.status, 200, await res.text());
    await waitForFile(output, lines, (all) => all.some((l) => l.id === 7301), { what: "the first send" });
    await eventually(
      () =>
        ["poll-", "inbox-", "dedupe-"].every((kind) => stateFiles().some((name) => name.startsWith(kind))),
      { what: "the poll's, the inbox's and the dedupe store's files" },
    );
    const before = stateFiles();

    await red.stop();
    const restartedAt = Date.now();
    red = await startNodeRed({ userDir, port });
    // The event was never confirmed: the new process sends it again at once, through the new webhook-in.
    const again = await waitForFile(
      output,
      lines,
      (all) => all.some((l) => l.id === 7301 && l.attempt === 2),
      {
        what: "the pending event sent again after the restart",
      },
    );
    assert.deepEqual(
      again.map((l) => [l.id, l.attempt]),
      [
        [7301, 1],
        [7301, 2],
      ],
    );
    // The poll's first run of this start has saved its state: in the file it had, not in one of a new id.
    await eventually(
      () =>
        stateFiles()
          .filter((name) => name.startsWith("poll-"))
          .some((name) => fs.statSync(path.join(userDir, "clarus", `${name}.json`)).mtimeMs >= restartedAt),
      { what: "the poll's state saved after the restart" },
    );
    assert.deepEqual(stateFiles(), before, "the same connection, inbox and poll state files");
  });

  it("should keep the state while the subflow instance is disabled, and delete it with the instance", async function () {
    const kept = stateFiles();
    assert.equal(kept.length, 3, `the connection's, the inbox's and the poll's files: ${kept}`);
    await deployFlows(red, subflowFlows({ sim, output, instance: "disabled" }));
    assert.deepEqual(stateFiles(), kept, "a disabled instance keeps its nodes' state");
    await deployFlows(red, subflowFlows({ sim, output }));
    assert.deepEqual(stateFiles(), kept, "enabled again: the same state");
    await deployFlows(red, subflowFlows({ sim, output, instance: "deleted" }));
    assert.deepEqual(stateFiles(), [], "a deleted instance's nodes leave no state behind");
  });
});
