// `npm start`, the demo: the real npm script, signalled as a supervisor or an IDE's Stop button would
// signal it (the one process npm start is, never its group), and restarted to see what it keeps.
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const { EventEmitter } = require("node:events");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");

const { WebSocket: CommsSocket } = require("ws");

const { REPO_ROOT, cleanNpmEnv, freePort, request } = require("../helpers/red-process");

const START_SCRIPT = require("../../package.json").scripts.start;
/** What the shell that npm start runs is left executing once the build steps are done. */
const DEMO_COMMAND = START_SCRIPT.split("&&").pop().trim();
const STOP_WITHIN_MS = 5000;

/** A running demo: its one process, every output line, and the ports it announced. */
class Demo extends EventEmitter {
  constructor(child) {
    super();
    this.child = child;
    this.lines = [];
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on("line", (line) => {
        this.lines.push(line);
        this.emit("line", line);
      });
    }
  }

  get running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the first line (past or future) matching `pattern`; rejects if the demo exits first. */
  waitFor(pattern) {
    const seen = this.lines.find((line) => pattern.test(line));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const onLine = (line) => {
        if (!pattern.test(line)) return;
        this.off("line", onLine);
        this.child.off("exit", onExit);
        resolve(line);
      };
      const onExit = (code) => {
        this.off("line", onLine);
        reject(
          new Error(`the demo exited (${code}) before ${pattern}:\n${this.lines.slice(-30).join("\n")}`),
        );
      };
      this.on("line", onLine);
      this.child.once("exit", onExit);
    });
  }

  async started() {
    await this.waitFor(/Clarus WMS demo is running/);
    const simLine = await this.waitFor(/Clarus simulator\s+http:\/\/127\.0\.0\.1:\d+/);
    this.simPort = Number(/127\.0\.0\.1:(\d+)/.exec(simLine)[1]);
  }

  /** Signals the demo's own process and resolves with its exit and how long it took. */
  async stop(signal) {
    const sent = Date.now();
    this.child.kill(signal);
    const exit = await this.exited;
    return { ...exit, ms: Date.now() - sent };
  }
}

/**
 * The README's curl example: the one shell code block that posts to the demo's webhook, with the demo's port in
 * place of 1880.
 */
function readmeCurl(port) {
  const readme = fs.readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");
  // A code block may be indented, inside a list item: its lines lose that indent.
  const blocks = [...readme.matchAll(/^( *)```sh\n([\s\S]*?)^\1```/gm)]
    .map(([, indent, body]) => body.replaceAll(new RegExp(`^${indent}`, "gm"), ""))
    .filter((body) => /^curl /m.test(body));
  assert.equal(blocks.length, 1, `the README has ${blocks.length} curl examples`);
  assert.match(blocks[0], /127\.0\.0\.1:1880\/clarus\/events\/demo-webhook-token-change-me/);
  return blocks[0].replaceAll("127.0.0.1:1880", `127.0.0.1:${port}`);
}

function runShell(script) {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", script], { stdio: ["ignore", "pipe", "pipe"] });
    const out = [];
    child.stdout.on("data", (chunk) => out.push(chunk));
    child.stderr.on("data", (chunk) => out.push(chunk));
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, output: Buffer.concat(out).toString("utf8") }));
  });
}

function startDemo(command, args, { port, dir, env = {} }) {
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: {
      ...cleanNpmEnv(),
      PORT: String(port),
      CLARUS_DEMO_DIR: dir,
      CLARUS_DEMO_INTERVAL_MS: "300",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Demo(child);
}

/** True when nothing listens on the port any more. */
function portFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

async function assertStoppedCleanly(demo, signal, port) {
  const { code, signal: killedBy, ms } = await demo.stop(signal);
  assert.equal(killedBy, null, `the demo was killed by ${killedBy}`);
  assert.equal(code, 0, demo.lines.slice(-20).join("\n"));
  assert.ok(ms < STOP_WITHIN_MS, `stopped ${ms} ms after ${signal}`);
  assert.ok(
    demo.lines.some((line) => /Stopped flows/.test(line)),
    "Node-RED closed its flows",
  );
  assert.ok(await portFree(port), `Node-RED's port ${port} is still in use`);
  assert.ok(await portFree(demo.simPort), `the simulator's port ${demo.simPort} is still in use`);
}

async function getFlows(port) {
  const res = await request({ port, path: "/flows", headers: { "Node-RED-API-Version": "v2" } });
  assert.equal(res.status, 200, res.text);
  return res.json();
}

describe("npm start (the demo)", function () {
  this.timeout(60_000);
  let demo;
  let dir;
  let port;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "clarus-demo-"));
    port = await freePort();
  });

  afterEach(async () => {
    // After a failed test: the demo stops Node-RED on SIGTERM, and Node-RED stops by itself after SIGKILL.
    if (demo?.running) {
      const timer = setTimeout(() => demo.child.kill("SIGKILL"), STOP_WITHIN_MS);
      demo.child.kill("SIGTERM");
      await demo.exited;
      clearTimeout(timer);
    }
  });

  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("should exec the demo as the last step of npm start, so signals reach it", function () {
    assert.match(START_SCRIPT, /&& exec node build\/dev\/sim\/demo\.js$/);
  });

  it("should show events in the debug sidebar and stop on SIGINT to the npm process, exit 0", async function () {
    // The real script, build steps included.
    this.timeout(240_000);
    demo = startDemo("npm", ["start"], { port, dir });
    await demo.started();
    // The webhook node registered its six automations with the simulator's REST API; none were configured.
    const registered = demo.lines.find((line) => /registered with Clarus at /.test(line));
    assert.match(registered ?? demo.lines.join("\n"), /<webhook token>: (\S+ created \(\d+\)(, )?){6}$/);

    // The editor's debug sidebar listens on the comms websocket; so does this test.
    const socket = new CommsSocket(`ws://127.0.0.1:${port}/comms`);
    await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
    socket.send(JSON.stringify({ subscribe: "debug" }));
    const debugNames = new Set();
    await new Promise((resolve) => {
      socket.on("message", (data) => {
        for (const message of [].concat(JSON.parse(String(data)))) {
          if (message.topic === "debug") debugNames.add(message.data.name);
        }
        if (debugNames.size >= 3) resolve();
      });
    });
    assert.ok(debugNames.size >= 3, [...debugNames].join(", "));

    // The README's curl, pasted as it is: a delivery by hand that the demo's webhook node takes.
    const shown = new Promise((resolve) =>
      socket.on("message", (data) => {
        for (const message of [].concat(JSON.parse(String(data)))) {
          if (message.topic === "debug" && /"SO-90001"/.test(String(message.data.msg))) resolve(message.data);
        }
      }),
    );
    const curl = await runShell(readmeCurl(port));
    assert.equal(curl.code, 0, curl.output);
    assert.match(curl.output, /^HTTP\/1\.1 200 /m, curl.output);
    assert.match(curl.output, /\{"ok":true\}\s*$/, curl.output);
    assert.equal((await shown).name, "Sales order dispatched");
    socket.close();
    assert.ok(
      !demo.lines.some((line) => /\[error\]/.test(line)),
      demo.lines.filter((l) => /\[error\]/.test(l)).join("\n"),
    );

    // The user changes the demo flow: a note of their own on the demo's tab.
    const { rev, flows } = await getFlows(port);
    const changed = [
      ...flows,
      { id: "user-note", type: "comment", z: "clarus-demo-tab", name: "my change", x: 700, y: 40, wires: [] },
    ];
    const deployed = await request({
      port,
      method: "POST",
      path: "/flows",
      headers: { "Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": "full" },
      body: { rev, flows: changed },
    });
    assert.equal(deployed.status, 200, deployed.text);

    await assertStoppedCleanly(demo, "SIGINT", port);
  });

  it("should keep the user's flows on the next start and stop on SIGTERM, exit 0", async function () {
    // The command npm start's shell execs once the build is done, run the way npm runs it.
    demo = startDemo("sh", ["-c", DEMO_COMMAND], { port, dir });
    await demo.started();
    assert.ok(demo.lines.some((line) => /Kept your demo flows/.test(line)));
    const { flows } = await getFlows(port);
    assert.ok(
      flows.some((node) => node.id === "user-note"),
      "the user's change is still there",
    );
    const connection = flows.find((node) => node.type === "clarus-connection");
    assert.equal(connection.apiUrl, `http://127.0.0.1:${demo.simPort}`, "pointed at this start's simulator");
    // The kept flow still works against the new simulator: events reach the webhook node.
    await waitForWebhookStatus(port);
    await assertStoppedCleanly(demo, "SIGTERM", port);
  });

  it("should leave nothing running even when the demo is killed outright", async function () {
    demo = startDemo("sh", ["-c", DEMO_COMMAND], { port, dir });
    await demo.started();
    const { signal } = await demo.stop("SIGKILL");
    assert.equal(signal, "SIGKILL");
    // Node-RED, its child, notices on its own; nothing here can be awaited but the port itself.
    let free = false;
    for (let tries = 0; tries < 100 && !free; tries++) {
      free = await portFree(port);
      if (!free) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(free, `Node-RED still holds port ${port} 10 s after the demo was killed`);
  });

  it("should restore the demo flow with npm start -- --reset, and say so", async function () {
    // npm appends the arguments after -- to the script.
    demo = startDemo("sh", ["-c", `${DEMO_COMMAND} --reset`], { port, dir });
    await demo.started();
    const { flows } = await getFlows(port);
    assert.ok(!flows.some((node) => node.id === "user-note"), "the user's change is gone");
    assert.ok(
      flows.some((node) => node.id === "demo-webhook"),
      "the demo flow is back",
    );
    assert.ok(
      demo.lines.some((line) => /^Reset: your demo flows \(.*\) are replaced by the demo flow\.$/.test(line)),
      demo.lines.join("\n"),
    );
    assert.ok(!demo.lines.some((line) => /Kept your demo flows/.test(line)), "it says it kept the flows");
    await assertStoppedCleanly(demo, "SIGINT", port);
  });

  it("should restore the demo flow with npm start --reset, which npm passes as npm_config_reset", async function () {
    // A change to reset first, then the demo as npm runs it for `npm start --reset`: the flag only in the env.
    demo = startDemo("sh", ["-c", DEMO_COMMAND], { port, dir });
    await demo.started();
    const { rev, flows } = await getFlows(port);
    const note = {
      id: "user-note",
      type: "comment",
      z: "clarus-demo-tab",
      name: "mine",
      x: 700,
      y: 40,
      wires: [],
    };
    const deployed = await request({
      port,
      method: "POST",
      path: "/flows",
      headers: { "Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": "full" },
      body: { rev, flows: [...flows, note] },
    });
    assert.equal(deployed.status, 200, deployed.text);
    await assertStoppedCleanly(demo, "SIGINT", port);

    demo = startDemo("sh", ["-c", DEMO_COMMAND], { port, dir, env: { npm_config_reset: "true" } });
    await demo.started();
    const after = await getFlows(port);
    assert.ok(!after.flows.some((node) => node.id === "user-note"), "the user's change is still there");
    assert.ok(
      demo.lines.some((line) => /^Reset: /.test(line)),
      demo.lines.join("\n"),
    );
    await assertStoppedCleanly(demo, "SIGINT", port);
  });
});

/** Resolves once the demo's webhook node reports accepted deliveries ("<n> ok" with n > 0) over comms. */
async function waitForWebhookStatus(port) {
  const socket = new CommsSocket(`ws://127.0.0.1:${port}/comms`);
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
  socket.send(JSON.stringify({ subscribe: "status/#" }));
  try {
    await new Promise((resolve) => {
      socket.on("message", (data) => {
        for (const message of [].concat(JSON.parse(String(data)))) {
          if (message.topic === "status/demo-webhook" && /^[1-9]\d* ok/.test(message.data?.text ?? ""))
            resolve();
        }
      });
    });
  } finally {
    socket.close();
  }
}
