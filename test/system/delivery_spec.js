// Delivery guarantees of the packed package in a real Node-RED (red.js as a child process, the tarball
// installed into its user directory), measured the way a user sees the loss: the core `file` node
// appends each event's id as the durable effect, kill -9 interrupts the run, Node-RED restarts and Clarus
// retries every delivery. `on-confirm` must lose no acknowledged event; `on-receipt` (a 0.1 connection, no
// new property set) is measured beside it. The lost and doubled counts are printed after the suite.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

const {
  REPO_ROOT,
  deployFlows,
  freePort,
  installIntoUserDir,
  makeTempDir,
  packPackage,
  removeDir,
  request,
  startNodeRed,
  writeSettings,
} = require("../helpers/red-process");
const { eventually } = require("../helpers/eventually");
const { fileRecorder } = require("../helpers/output-file");
const { TOKEN, connectionConfig, webhookConfig, delayNode, dispatched } = require("../helpers/fixtures");
const {
  ID_AND_ATTEMPT,
  acknowledged,
  burst,
  deliver,
  deliverBody,
  readOutput,
  waitForOutput,
} = require("../helpers/deliveries");

const TAB = "delivery-tab";
/** An unprivileged user for the read-only test when the suite runs as root (root ignores permission bits). */
const NOBODY = 65534;

/** Every figure the crash scenarios measured, printed after the suite. */
const figures = [];

/**
 * clarus-webhook-in → [delay] → function (payload = "<id> <attempt>") → file (append) → clarus-confirm →
 * [after]. `connection` overrides the connection; a 0.1 connection sets no delivery property at all.
 */
function crashFlow({ output, connection = {}, delaySeconds, after }) {
  const node = (id, type, x, props) => ({ id, type, z: TAB, x, y: 80, ...props });
  const chain = [];
  if (delaySeconds) {
    chain.push(
      delayNode("erp-delay", {
        z: TAB,
        x: 320,
        y: 80,
        name: "ERP call",
        timeout: delaySeconds,
        timeoutUnits: "seconds",
      }),
    );
  }
  chain.push(
    ...fileRecorder({ id: "to-line", z: TAB, file: output, func: ID_AND_ATTEMPT, x: 480 }),
    node("confirmer", "clarus-confirm", 800, { name: "", action: "confirm", retrySeconds: 60 }),
  );
  if (after) chain.push(node("after-confirm", "function", 960, { name: "after", func: after, outputs: 1 }));
  const hook = webhookConfig({ z: TAB, x: 140, y: 80 });
  const wired = [hook, ...chain];
  wired.forEach((n, i) => (n.wires = i + 1 < wired.length ? [[wired[i + 1].id]] : [[]]));
  return [
    { id: TAB, type: "tab", label: "delivery" },
    connectionConfig({ dedupeCapacity: 100000, credentials: { webhookToken: TOKEN }, ...connection }),
    ...wired,
  ];
}

/**
 * Adds a core status node watching the webhook-in and a function that logs each status it shows as
 * `STATUS <fill> <text>`, so a test can await the node's status in the log of a real Node-RED.
 */
function withStatusReport(flow) {
  flow.push(
    {
      id: "hook-status",
      type: "status",
      z: TAB,
      name: "",
      scope: ["hook"],
      x: 140,
      y: 240,
      wires: [["report-status"]],
    },
    {
      id: "report-status",
      type: "function",
      z: TAB,
      name: "report status",
      func: 'node.warn("STATUS " + msg.status.fill + " " + msg.status.text);\nreturn null;',
      outputs: 1,
      x: 320,
      y: 240,
      wires: [[]],
    },
  );
  return flow;
}

/** A JSON object whose one property holds `depth` nested arrays: `{"a":[[[…]]]}`. */
const nestedBody = (depth) => `{"a":${"[".repeat(depth)}${"]".repeat(depth)}}`;

describe("delivery: crashes, retries and dead letters in a real Node-RED (the packed package)", function () {
  this.timeout(180_000);

  let tmp;
  let userDir;
  let outputs;
  let port;
  let red;

  function start(options = {}) {
    return startNodeRed({ userDir, port, ...options });
  }

  /** A fresh user directory state: no flows, no store, no output; the installed package stays. */
  async function reset() {
    if (red) await red.kill();
    red = undefined;
    for (const file of ["flows.json", "flows_cred.json", ".flows.json.backup", ".flows_cred.json.backup"]) {
      fs.rmSync(path.join(userDir, file), { force: true });
    }
    removeDir(path.join(userDir, "clarus"));
    removeDir(outputs);
    fs.mkdirSync(outputs);
  }

  function deadLetters() {
    return request({ port, path: "/clarus-wms/connections/conn/dead-letters" }).then((res) => {
      assert.equal(res.status, 200, res.text);
      return res.json();
    });
  }

  /**
   * The recorder writes its line before the confirm behind it runs, so the last event read from the file may
   * still be pending for a moment: wait for the count the scenario ends with, then assert it.
   */
  async function settledPending(expected) {
    let pending;
    await eventually(async () => (pending = (await deadLetters()).pending) === expected, {
      what: `${expected} pending`,
    }).catch(() => {});
    assert.equal(pending, expected, "pending entries in the inbox");
  }

  /** A delivery after the ones under test; once it is in the file, everything sent before it that will be, is. */
  async function barrier(output, id) {
    const answer = await deliver(port, undefined, id);
    assert.equal(answer.status, 200, JSON.stringify(answer));
    await waitForOutput(output, ({ counts }) => counts.has(id), { what: `barrier ${id}` });
  }

  /**
   * After the kill: restart, retry every delivery as Clarus would, wait until the flow is done, and count
   * what `before` (the acknowledged ids) lost and what came twice. on-confirm must lose none and double no
   * more than it had pending at the kill (what it sent again, attempt 2 and later).
   */
  async function restartRetryAndCount({ scenario, mode, output, ids, before }) {
    red = await start();
    const retries = await burst(port, ids, 20);
    assert.deepEqual(
      [...retries.values()].filter((answer) => answer.status !== 200),
      [],
      "every retry answered 200",
    );
    if (mode === "on-confirm") {
      await waitForOutput(output, ({ counts }) => ids.every((id) => counts.has(id)), {
        what: "every id in the file",
      });
    }
    const barrierId = 900_000 + figures.length;
    await barrier(output, barrierId);
    const { counts, redelivered } = readOutput(output);
    const lost = before.filter((id) => !counts.has(id));
    const doubled = [...counts].filter(([id, n]) => n > 1 && id !== barrierId).length;
    figures.push({ scenario, mode, acknowledged: before.length, lost: lost.length, doubled, redelivered });
    if (mode === "on-confirm") {
      assert.equal(lost.length, 0, `acknowledged and lost: ${lost.slice(0, 20)}`);
      assert.ok(
        doubled <= redelivered,
        `${doubled} doubled, but only ${redelivered} were pending at the kill`,
      );
    }
    return { lost };
  }

  before(async function () {
    this.timeout(300_000);
    assert.ok(
      fs.existsSync(path.join(REPO_ROOT, "build", "nodes", "clarus-confirm.js")),
      "build/ is missing: run `npm run build` first (npm test does)",
    );
    tmp = makeTempDir("clarus-delivery-");
    userDir = path.join(tmp, "userDir");
    outputs = path.join(tmp, "outputs");
    fs.mkdirSync(userDir);
    const tarball = await packPackage({ destination: tmp });
    await installIntoUserDir({ userDir, packages: [tarball] });
    port = await freePort();
    writeSettings({ userDir, port });
  });

  after(async function () {
    if (red) await red.kill();
    removeDir(tmp);
    if (figures.length > 0) {
      console.log("\n  delivery figures:");
      console.log(
        "  " +
          ["scenario", "mode", "acknowledged", "lost", "doubled", "redelivered"]
            .map((c) => c.padEnd(14))
            .join(""),
      );
      for (const f of figures) {
        console.log(
          "  " +
            [f.scenario, f.mode, f.acknowledged, f.lost, f.doubled, f.redelivered]
              .map((c) => String(c).padEnd(14))
              .join(""),
        );
      }
    }
  });

  const MODES = [
    { mode: "on-receipt", connection: {} }, // a 0.1 connection: no delivery property set
    { mode: "on-confirm", connection: { delivery: "on-confirm", redeliverSeconds: 300, maxAttempts: 10 } },
  ];

  for (const { mode, connection } of MODES) {
    it(`should measure a kill -9 in a burst of 3,000 deliveries over 20 connections (${mode})`, async function () {
      await reset();
      const output = path.join(outputs, "ids.txt");
      red = await start();
      await deployFlows(red, crashFlow({ output, connection }));
      const ids = Array.from({ length: 3000 }, (_, i) => i + 1);
      let killed;
      let answered = 0;
      const answers = await burst(port, ids, 20, (_id, answer) => {
        if (answer.status === 200 && ++answered === 1500 && !killed) killed = red.kill();
        return killed ? "stop" : undefined;
      });
      await killed;
      const before = acknowledged(answers);
      assert.ok(before.length >= 1500, `${before.length} acknowledged before the kill`);

      await restartRetryAndCount({ scenario: "burst 3000/20", mode, output, ids, before });
      if (mode === "on-confirm") await settledPending(0);
    });
  }

  for (const { mode, connection } of MODES) {
    it(`should measure a kill -9 two seconds after 300 events at ~100/s into a 3 s step (${mode})`, async function () {
      await reset();
      const output = path.join(outputs, "ids.txt");
      red = await start();
      await deployFlows(red, crashFlow({ output, connection, delaySeconds: 3 }));
      const ids = Array.from({ length: 300 }, (_, i) => 10_001 + i);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
      const sent = [];
      for (const id of ids) {
        sent.push(deliver(port, agent, id).then((answer) => [id, answer]));
        await new Promise((resolve) => setTimeout(resolve, 10)); // the scenario's pace: about 100 a second
      }
      const answers = new Map(await Promise.all(sent));
      agent.destroy();
      const before = acknowledged(answers);
      assert.equal(before.length, 300, "every event answered before the kill");
      // The scenario: kill -9 two seconds after the last answer, while the 3 s step still holds events.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await red.kill();

      const { lost } = await restartRetryAndCount({ scenario: "3 s step, 300", mode, output, ids, before });
      if (mode === "on-receipt") {
        // The loss on-confirm exists for: events inside the slow step when Node-RED died are gone for good.
        assert.ok(lost.length > 0, "on-receipt lost nothing: the scenario did not hold events in the step");
      }
    });
  }

  context("with on-confirm in one running Node-RED", function () {
    const output = () => path.join(outputs, "ids.txt");
    const onConfirm = { delivery: "on-confirm", redeliverSeconds: 1, maxAttempts: 2 };

    before(async function () {
      await reset();
      red = await start();
    });

    it("should send an event that failed downstream again through Catch → clarus-confirm (retry) and confirm it", async function () {
      const flow = crashFlow({ output: output(), connection: onConfirm });
      // The step fails the first attempt; a Catch node hands it to a clarus-confirm that retries at once.
      const step = flow.find((n) => n.id === "to-line");
      step.func = `if ((msg.clarus.attempt || 1) === 1) throw new Error("ERP answered 503");\n${step.func}`;
      flow.push(
        {
          id: "catcher",
          type: "catch",
          z: TAB,
          name: "",
          scope: ["to-line"],
          uncaught: false,
          x: 480,
          y: 160,
          wires: [["retrier"]],
        },
        {
          id: "retrier",
          type: "clarus-confirm",
          z: TAB,
          name: "",
          action: "retry",
          retrySeconds: 0,
          x: 640,
          y: 160,
          wires: [[]],
        },
      );
      await deployFlows(red, flow);
      const answer = await deliver(port, undefined, 5001);
      assert.equal(answer.status, 200);
      const { counts } = await waitForOutput(output(), ({ counts }) => counts.has(5001), { what: "id 5001" });
      assert.equal(counts.get(5001), 1);
      assert.match(fs.readFileSync(output(), "utf8"), /^5001 2$/m, "confirmed on the second attempt");
      await settledPending(0);
      assert.equal((await deadLetters()).dead, 0);
    });

    it("should make a dead letter of an event never confirmed: Catch gets it, the admin endpoint lists it", async function () {
      const flow = crashFlow({ output: output(), connection: onConfirm });
      // Nothing confirms: the step's output leads nowhere.
      flow.find((n) => n.id === "to-line-file").wires = [[]];
      flow.push(
        {
          id: "catcher",
          type: "catch",
          z: TAB,
          name: "",
          scope: ["hook"],
          uncaught: false,
          x: 140,
          y: 160,
          wires: [["report"]],
        },
        {
          id: "report",
          type: "function",
          z: TAB,
          name: "report",
          func: 'node.warn("DEAD " + msg.payload.id + " " + msg.clarus.attempt + " " + msg.error.message);\nreturn null;',
          outputs: 1,
          x: 320,
          y: 160,
          wires: [[]],
        },
      );
      const since = red.lines.length;
      await deployFlows(red, flow);
      assert.equal((await deliver(port, undefined, 6001)).status, 200);
      const { line } = await red.waitForLine(/DEAD 6001/, { since, timeoutMs: 15_000 });
      assert.match(
        line,
        /DEAD 6001 2 (Error: )?dead letter goods_out\.completed:6001: not confirmed after 2 attempts/,
      );
      const inbox = await deadLetters();
      assert.equal(inbox.dead, 1);
      assert.deepEqual(
        inbox.deadLetters.map((letter) => [letter.key, letter.attempts, letter.sourceNodeId]),
        [["goods_out.completed:6001", 2, "hook"]],
      );
      assert.equal(readOutput(output()).counts.get(6001), 2, "sent twice, then given up");
    });

    it("should answer 400 to a body nested 100,000 deep, warn, and take the next event without turning red", async function () {
      await reset();
      red = await start();
      await deployFlows(red, withStatusReport(crashFlow({ output: output(), connection: onConfirm })));
      const since = red.lines.length;
      // 200 kB, well under maxBytes: only its depth is wrong, and the disk is fine.
      const deep = await deliverBody(port, undefined, nestedBody(100_000));
      assert.equal(deep.status, 400, JSON.stringify(deep).slice(0, 300));
      assert.match(JSON.parse(deep.body).error, /nested deeper than 64 levels/);
      await red.waitForLine(/rejected 400: body is nested deeper than 64 levels/, { since });
      const { line: rejected } = await red.waitForLine(/STATUS \S+ 0 ok, 1 rejected/, { since });
      assert.doesNotMatch(rejected, /STATUS red|store failing/);
      const answer = await deliver(port, undefined, 9101);
      assert.equal(answer.status, 200, JSON.stringify(answer));
      await waitForOutput(output(), ({ counts }) => counts.has(9101), { what: "id 9101" });
      await red.waitForLine(/STATUS \S+ 1 ok, 1 rejected/, { since });
      const redLines = red.lines.slice(since).filter((line) => /STATUS red|store failing/.test(line));
      assert.deepEqual(redLines, [], "the status never turned red");
    });

    it("should keep pending events and their due times across a full redeploy, and send them at once after a restart", async function () {
      await reset();
      red = await start();
      const flow = crashFlow({
        output: output(),
        connection: { ...onConfirm, redeliverSeconds: 300 },
        delaySeconds: 2,
      });
      await deployFlows(red, flow);
      const ids = [7001, 7002, 7003, 7004, 7005];
      for (const id of ids.slice(0, 4)) assert.equal((await deliver(port, undefined, id)).status, 200);
      // Pretty-printed with CRLF line ends and a BOM: the inbox keeps the body's own JSON, made one line.
      const printed = "\uFEFF" + JSON.stringify(dispatched(7005), null, 2).replace(/\n/g, "\r\n");
      assert.equal((await deliverBody(port, undefined, printed)).status, 200);
      // The events wait in the 2 s step; a full deploy drops what the step holds.
      await deployFlows(red, flow, { deploymentType: "full" });
      // The same process: their due times (300 s) stand. A delivery made after the redeploy passes the step
      // behind anything sent again at the redeploy, so once it is in the file, nothing was.
      await barrier(output(), 7100);
      assert.deepEqual(
        ids.filter((id) => readOutput(output()).counts.has(id)),
        [],
        "none was sent again at the redeploy",
      );
      await settledPending(5);
      // A new process: what was in flight died with the old one, so every pending entry is due at once.
      await red.kill();
      red = await start();
      const { counts } = await waitForOutput(output(), (o) => ids.every((id) => o.counts.has(id)), {
        what: "the pending events",
      });
      assert.deepEqual(
        ids.map((id) => counts.get(id)),
        [1, 1, 1, 1, 1],
      );
      assert.match(fs.readFileSync(output(), "utf8"), /^7001 2$/m, "sent again after the restart");
      await settledPending(0);
    });

    it("should send an event held in a slow step once when a nodes deploy changes only the connection", async function () {
      await reset();
      red = await start();
      const flow = crashFlow({
        output: output(),
        connection: { ...onConfirm, redeliverSeconds: 300 },
        delaySeconds: 3,
      });
      await deployFlows(red, flow);
      assert.equal((await deliver(port, undefined, 7201)).status, 200);
      // Renaming the connection restarts it, its store and the nodes that use it; the 3 s step keeps the event.
      const renamed = flow.map((n) => (n.type === "clarus-connection" ? { ...n, name: "acme renamed" } : n));
      await deployFlows(red, renamed, { deploymentType: "nodes" });
      await waitForOutput(output(), ({ counts }) => counts.has(7201), { what: "id 7201" });
      // Through the same step, behind a copy that the redeploy would have sent at once.
      await barrier(output(), 7202);
      const text = fs.readFileSync(output(), "utf8");
      assert.equal(readOutput(output()).counts.get(7201), 1, text);
      assert.match(text, /^7201 1$/m, "the first attempt arrived, confirmed by the restarted connection");
      await settledPending(0);
    });
  });

  it("should answer 503 while the inbox directory is read-only and lose nothing once it is writable", async function () {
    await reset();
    const store = path.join(userDir, "clarus");
    fs.mkdirSync(store);
    // Root ignores permission bits: then Node-RED runs as an unprivileged user, who does not.
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      for (const dir of [tmp, userDir, outputs]) fs.chmodSync(dir, 0o755);
      chownTree(userDir, NOBODY);
      chownTree(outputs, NOBODY);
    }
    fs.chmodSync(store, 0o555);
    const output = path.join(outputs, "ids.txt");
    red = await start(asRoot ? { uid: NOBODY, gid: NOBODY, env: { HOME: userDir } } : {});
    await deployFlows(
      red,
      crashFlow({ output, connection: { delivery: "on-confirm", redeliverSeconds: 300, maxAttempts: 10 } }),
    );
    const ids = [8001, 8002, 8003];
    for (const id of ids) {
      const answer = await deliver(port, undefined, id);
      assert.equal(answer.status, 503, JSON.stringify(answer));
      assert.equal(JSON.parse(answer.body).error, "the store is unavailable; try again later");
    }
    // The cause is in the log, not in the answer.
    await red.waitForLine(/rejected 503: the store cannot take the event: .*(EACCES|EROFS|EPERM)/);
    assert.equal(readOutput(output).counts.size, 0, "nothing was sent");
    fs.chmodSync(store, 0o755);
    // Clarus retries: every event is taken, written, confirmed.
    for (const id of ids) assert.equal((await deliver(port, undefined, id)).status, 200);
    const { counts } = await waitForOutput(output, (o) => ids.every((id) => o.counts.has(id)), {
      what: "the retried events",
    });
    assert.deepEqual(
      ids.map((id) => counts.get(id)),
      [1, 1, 1],
    );
    await settledPending(0);
    assert.ok(
      fs.readdirSync(store).some((file) => file.startsWith("inbox-")),
      "the inbox file exists now",
    );
  });
});

function chownTree(dir, uid) {
  fs.chownSync(dir, uid, uid);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) chownTree(file, uid);
    else fs.lchownSync(file, uid, uid);
  }
}
