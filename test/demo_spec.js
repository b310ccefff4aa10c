const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const { EventEmitter } = require("node:events");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");

const { WebSocket: CommsSocket } = require("ws");

const { freePort } = require("./helpers/red-process");

const DEMO = path.join(__dirname, "..", "build", "dev", "sim", "demo.js");

describe("npm start (the demo)", function () {
  this.timeout(60_000);
  let demo;
  let dir;

  afterEach(async () => {
    if (demo && demo.exitCode === null && demo.signalCode === null) {
      demo.kill("SIGKILL");
      await new Promise((resolve) => demo.once("exit", resolve));
    }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("should show events in the debug sidebar within seconds and stop cleanly on Ctrl-C", async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "clarus-demo-"));
    const port = await freePort();
    demo = spawn(process.execPath, [DEMO], {
      env: { ...process.env, PORT: String(port), CLARUS_DEMO_DIR: dir, CLARUS_DEMO_INTERVAL_MS: "300" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const lines = [];
    const output = new EventEmitter();
    for (const stream of [demo.stdout, demo.stderr]) {
      readline.createInterface({ input: stream }).on("line", (line) => {
        lines.push(line);
        output.emit("line", line);
      });
    }
    await waitFor(demo, output, lines, /Clarus WMS demo is running/);
    // The webhook node registered its six automations with the simulator's REST API; none were configured.
    const registered = lines.find((line) => /registered with Clarus at /.test(line));
    assert.match(registered ?? lines.join("\n"), /<webhook token>: (\S+ created \(\d+\)(, )?){6}$/);

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
    socket.close();
    assert.ok(debugNames.size >= 3, [...debugNames].join(", "));
    assert.ok(
      !lines.some((line) => /\[error\]/.test(line)),
      lines.filter((l) => /\[error\]/.test(l)).join("\n"),
    );

    demo.kill("SIGINT");
    const [code] = await new Promise((resolve) => demo.once("exit", (...args) => resolve(args)));
    assert.equal(code, 0);
    assert.ok(lines.some((line) => /Stopped flows/.test(line)));
  });
});

function waitFor(child, output, lines, pattern) {
  return new Promise((resolve, reject) => {
    const onLine = (line) => {
      if (!pattern.test(line)) return;
      output.off("line", onLine);
      child.off("exit", onExit);
      resolve();
    };
    const onExit = (code) => {
      output.off("line", onLine);
      reject(new Error(`the demo exited (${code}) before ${pattern}:\n${lines.slice(-30).join("\n")}`));
    };
    output.on("line", onLine);
    child.once("exit", onExit);
  });
}
