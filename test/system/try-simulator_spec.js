// The README's "Try it on the simulator": `npm run sim` starts the simulator alone and prints what to type into
// the connection dialog. Run here as npm runs it (the command its script execs once the build is done), with a
// free port instead of 4000 so it cannot collide with anything; then the printed values are used word for word:
// a token is fetched with them, and a webhook-in made with them in a real Node-RED registers its automations
// with the simulator and receives an event.
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const path = require("node:path");
const readline = require("node:readline");

const { WebSocket: CommsSocket } = require("ws");

const {
  REPO_ROOT,
  cleanNpmEnv,
  deployFlows,
  freePort,
  linkPackage,
  makeTempDir,
  removeDir,
  startNodeRed,
  writeSettings,
} = require("../helpers/red-process");

const SIM_SCRIPT = require("../../package.json").scripts.sim;
/** What npm run sim's shell execs after the build. */
const SIM_COMMAND = SIM_SCRIPT.split("&&").pop().trim();

/** The simulator's process, its output lines, and a wait for a line. */
function startSim(args) {
  const child = spawn("sh", ["-c", `${SIM_COMMAND} ${args.join(" ")}`], {
    cwd: REPO_ROOT,
    env: cleanNpmEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines = [];
  const waiters = [];
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on("line", (line) => {
      lines.push(line);
      for (const waiter of [...waiters]) waiter();
    });
  }
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return {
    child,
    lines,
    exited,
    waitFor(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find((line) => pattern.test(line));
          if (!found) return;
          waiters.splice(waiters.indexOf(check), 1);
          resolve(found);
        };
        waiters.push(check);
        check();
        exited.then(() => reject(new Error(`the simulator exited before ${pattern}:\n${lines.join("\n")}`)));
      });
    },
  };
}

/** The "type:" block the simulator prints: label → value. */
function typedValues(lines) {
  const start = lines.findIndex((line) => /add a clarus-connection/.test(line));
  assert.ok(start >= 0, `no dialog values printed:\n${lines.join("\n")}`);
  const values = {};
  for (const line of lines.slice(start + 1)) {
    const match = /^ {4}(\S.*?\S) {2,}(\S.*)$/.exec(line);
    if (!match) break;
    values[match[1]] = match[2];
  }
  return values;
}

describe("npm run sim (the README's Try it on the simulator)", function () {
  this.timeout(60_000);
  let sim;
  let red;
  let tmp;
  let simPort;

  before(async function () {
    simPort = await freePort();
    tmp = makeTempDir("clarus-try-sim-");
  });

  after(async function () {
    if (sim && sim.child.exitCode === null) {
      sim.child.kill("SIGINT");
      await sim.exited;
    }
    if (red) await red.stop();
    removeDir(tmp);
  });

  it("should start the simulator alone on port 4000 unless told otherwise, with the default credentials", function () {
    assert.match(SIM_SCRIPT, /&& exec node build\/dev\/sim\/cli\.js$/, "npm run sim passes no options");
  });

  it("should print the values to type; with them it hands out a token, and a webhook-in registers and gets an event", async function () {
    const redPort = await freePort();
    sim = startSim([
      "--port",
      String(simPort),
      "--node-red",
      `http://127.0.0.1:${redPort}`,
      "--interval",
      "300",
    ]);
    await sim.waitFor(/Ctrl-C stops the simulator/);
    const values = typedValues(sim.lines);
    assert.deepEqual(values, {
      Subdomain: "acme",
      "Login URL": "https://acme.claruswms.co.uk",
      "API URL": `http://127.0.0.1:${simPort}`,
      "Client ID": "sim-client",
      "Client secret": "sim-secret",
      "Public URL": `http://127.0.0.1:${redPort}`,
      "Webhook token": "press Generate",
    });
    const token = await fetch(`${values["API URL"]}/oauth/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "client_credentials",
        client_id: values["Client ID"],
        client_secret: values["Client secret"],
      }),
    });
    assert.equal(token.status, 200);
    assert.match((await token.json()).access_token, /\S{16,}/);

    // A Node-RED of the user's: a webhook-in from the palette (its default path), on a connection with the
    // printed values, its events ticked under Register, and a debug node. Deployed, it registers and listens.
    const userDir = path.join(tmp, "userDir");
    linkPackage(userDir, { name: "clarus-try-sim" });
    writeSettings({ userDir, port: redPort });
    red = await startNodeRed({ userDir, port: redPort });
    const socket = new CommsSocket(`ws://127.0.0.1:${redPort}/comms`);
    await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
    socket.send(JSON.stringify({ subscribe: "debug" }));
    const firstEvent = new Promise((resolve) =>
      socket.on("message", (data) => {
        for (const message of [].concat(JSON.parse(String(data)))) {
          if (message.topic === "debug" && message.data.id === "try-debug" && !message.data.level)
            resolve(message.data);
        }
      }),
    );
    await deployFlows(red, [
      { id: "try-tab", type: "tab", label: "Flow 1" },
      {
        id: "try-connection",
        type: "clarus-connection",
        name: "",
        subdomain: values.Subdomain,
        domain: values["Login URL"],
        apiUrl: values["API URL"],
        publicUrl: values["Public URL"],
        automations: [],
        credentials: {
          clientId: values["Client ID"],
          clientSecret: values["Client secret"],
          webhookToken: "5f0c2a7e9b1d4c6e8a0b2d4f6a8c0e2b4d6f8a0c2e4a6b8c",
        },
      },
      {
        id: "try-webhook",
        type: "clarus-webhook-in",
        z: "try-tab",
        name: "",
        connection: "try-connection",
        path: "/clarus/events",
        method: "POST",
        event: "auto",
        requireToken: true,
        register: ["goods_out.completed", "goods_in.completed", "stock.placed_on_hold"],
        x: 150,
        y: 80,
        wires: [["try-debug"]],
      },
      {
        id: "try-debug",
        type: "debug",
        z: "try-tab",
        active: true,
        tosidebar: true,
        complete: "false",
        x: 400,
        y: 80,
        wires: [],
      },
    ]);
    const event = await firstEvent;
    socket.close();
    assert.match(String(event.topic), /^(goods_out\.completed|goods_in\.completed|stock\.placed_on_hold)$/);
    assert.ok(
      sim.lines.some((line) => /deliver #\d+ automation \d+: 200$/.test(line)),
      "the simulator logged no delivery answered 200",
    );
    assert.deepEqual(
      red.lines.filter((line) => /\[error\]|\[warn\].*clarus/.test(line)),
      [],
      "errors, or warnings of the Clarus nodes, in Node-RED's log",
    );
  });

  it("should stop on Ctrl-C (SIGINT), exit 0", async function () {
    sim.child.kill("SIGINT");
    const { code, signal } = await sim.exited;
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
  });
});
