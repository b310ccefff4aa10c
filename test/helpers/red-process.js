// Runs the real Node-RED (its own red.js) as a child process, for install, compatibility and bench runs.
// Everything is parameterised by red.js path and node binary, so one helper serves Node-RED 3.1, 4.1 and 5.0.
const { execFile, spawn } = require("node:child_process");
const { EventEmitter } = require("node:events");
const fs = require("node:fs");
const http = require("node:http");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");

const REPO_ROOT = path.join(__dirname, "..", "..");

/** Both lines must appear: red.js starts the flows and the HTTP server without waiting for each other. */
const READY_PATTERNS = [/\bStarted flows\b/, /\bServer now running at\b/];

/** Logged when a deploy's flows run: "Started flows", or "Started modified flows/nodes" for partial deploys. */
const STARTED = /\bStarted (modified )?(flows|nodes)\b/;

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

function makeTempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function removeDir(dir) {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/** A port that was free a moment ago: listen on port 0, read the port, close. */
function freePort(host = "127.0.0.1") {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Runs a command to completion; rejects with its output when it fails. */
function runCommand(command, args, { cwd, env = process.env, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          error.message += `\n$ ${command} ${args.join(" ")}\n${stdout}\n${stderr}`;
          reject(error);
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

/** npm's own lifecycle variables (set when this runs under `npm test`) must not leak into a child npm. */
function cleanNpmEnv() {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^npm_(package|lifecycle|config_local_prefix)/i.test(key)) delete env[key];
  }
  return env;
}

/**
 * The package as a user would have it, but linked: `<userDir>/node_modules/@wmsflow/node-red-clarus` → the
 * repository, with a `package.json` in `userDir` that depends on it (Node-RED loads what that lists).
 */
function linkPackage(userDir, { name = "node-red-project", manifest = {} } = {}) {
  const module = require(path.join(REPO_ROOT, "package.json")).name;
  const link = path.join(userDir, "node_modules", ...module.split("/"));
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(REPO_ROOT, link, "dir");
  fs.writeFileSync(
    path.join(userDir, "package.json"),
    JSON.stringify({ name, private: true, ...manifest, dependencies: { [module]: "*" } }, null, 2),
  );
}

/** `npm pack` of a built package into `destination`; resolves to the tarball's path. */
async function packPackage({ packageDir = REPO_ROOT, destination, npmCommand = "npm" }) {
  const { stdout } = await runCommand(npmCommand, ["pack", "--json", "--pack-destination", destination], {
    cwd: packageDir,
    env: cleanNpmEnv(),
  });
  const [packed] = JSON.parse(stdout);
  return path.join(destination, packed.filename);
}

/**
 * A clean checkout of this repository's working tree in `destination`, as a fresh clone of it would be once
 * committed: the files git tracks or would track (nothing ignored, so no build/, no node_modules), committed
 * to a git repository of its own so that npm can also install it from `git+file://`. Resolves to its path.
 */
async function cleanCheckout({ destination, sourceDir = REPO_ROOT }) {
  const { stdout } = await runCommand(
    "git",
    ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    {
      cwd: sourceDir,
    },
  );
  for (const file of stdout.split("\0").filter(Boolean)) {
    const from = path.join(sourceDir, file);
    if (!fs.existsSync(from)) continue; // deleted in the working tree, not yet in git
    fs.mkdirSync(path.dirname(path.join(destination, file)), { recursive: true });
    fs.copyFileSync(from, path.join(destination, file));
  }
  const git = (...args) =>
    runCommand("git", ["-c", "user.name=clarus-test", "-c", "user.email=clarus-test@localhost", ...args], {
      cwd: destination,
    });
  await git("init", "-q");
  await git("add", "-A");
  await git("commit", "-q", "-m", "clean checkout");
  return destination;
}

/** Installs packages into a Node-RED user directory the way a user would, from a minimal package.json. */
async function installIntoUserDir({ userDir, packages, npmCommand = "npm", timeoutMs }) {
  const manifest = path.join(userDir, "package.json");
  if (!fs.existsSync(manifest)) {
    const project = {
      name: "node-red-project",
      description: "A Node-RED project",
      version: "0.0.1",
      private: true,
    };
    fs.writeFileSync(manifest, JSON.stringify(project, null, 2));
  }
  await runCommand(npmCommand, ["install", ...packages, "--no-audit", "--no-fund", "--prefer-offline"], {
    cwd: userDir,
    env: cleanNpmEnv(),
    timeoutMs,
  });
}

/**
 * Writes `<userDir>/settings.js` for 127.0.0.1:`port`, console logging at `logLevel`. `extra` (JSON values)
 * is merged in; `extraSource` is JavaScript source of an object literal merged last, for settings that are
 * functions (e.g. `httpNodeMiddleware`).
 */
function writeSettings({ userDir, port, logLevel = "info", extra = {}, extraSource = "{}" }) {
  const settings = {
    uiHost: "127.0.0.1",
    uiPort: port,
    flowFile: "flows.json",
    credentialSecret: "a-test-secret",
    telemetry: { enabled: false },
    // Log lines are matched in English (readiness, deploys), whatever the machine's LANG.
    lang: "en-US",
    logging: { console: { level: logLevel, metrics: false, audit: false } },
    ...extra,
  };
  const file = path.join(userDir, "settings.js");
  fs.writeFileSync(
    file,
    `module.exports = Object.assign(${JSON.stringify(settings, null, 2)}, ${extraSource});\n`,
  );
  return file;
}

/**
 * The credentials file of `flowFile` (relative to `userDir`): `<flows>_cred<.ext>` in the user directory, where
 * every version looks first, else next to the flow file, where Node-RED 5 puts a new one.
 */
function credentialsFile({ userDir, flowFile = "flows.json" }) {
  const flows = path.resolve(userDir, flowFile);
  const { name, ext } = path.parse(flows);
  const inUserDir = path.join(userDir, `${name}_cred${ext}`);
  if (fs.existsSync(inUserDir)) return inUserDir;
  return path.join(path.dirname(flows), `${name}_cred${ext}`);
}

/**
 * A running Node-RED child. Every output line (stdout and stderr, colours stripped) is kept in `lines`,
 * so a test can await a log line by event instead of sleeping.
 */
class RedProcess extends EventEmitter {
  constructor(child, { port, echo }) {
    super();
    this.child = child;
    this.port = port;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.lines = [];
    this.exitStatus = undefined;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitStatus = { code, signal };
        this.emit("exit", this.exitStatus);
        resolve(this.exitStatus);
      });
    });
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on("line", (raw) => {
        const line = raw.replace(ANSI, "");
        this.lines.push(line);
        if (echo) process.stderr.write(`[node-red:${port}] ${line}\n`);
        this.emit("line", line, this.lines.length - 1);
      });
    }
  }

  get running() {
    return this.exitStatus === undefined;
  }

  /** The last `count` lines, for failure messages. */
  tail(count = 40) {
    return this.lines.slice(-count).join("\n");
  }

  /**
   * Resolves with the first line at index >= `since` that `test` (a RegExp or a predicate) accepts.
   * Rejects when the process exits first or after `timeoutMs`, with the output's tail.
   */
  waitForLine(test, { since = 0, timeoutMs = 15_000 } = {}) {
    const matches = typeof test === "function" ? test : (line) => test.test(line);
    for (let index = since; index < this.lines.length; index++) {
      if (matches(this.lines[index])) return Promise.resolve({ line: this.lines[index], index });
    }
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.off("line", onLine);
        this.off("exit", onExit);
      };
      const onLine = (line, index) => {
        if (index >= since && matches(line)) {
          cleanup();
          resolve({ line, index });
        }
      };
      const onExit = (status) => {
        cleanup();
        reject(new Error(`Node-RED exited (${JSON.stringify(status)}) before ${test}:\n${this.tail()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no line matching ${test} within ${timeoutMs} ms:\n${this.tail()}`));
      }, timeoutMs);
      this.on("line", onLine);
      if (!this.running) onExit(this.exitStatus);
      else this.on("exit", onExit);
    });
  }

  /** Waits until every pattern has appeared at or after line `since`. */
  async waitUntilReady({ patterns = READY_PATTERNS, since = 0, timeoutMs = 30_000 } = {}) {
    await Promise.all(patterns.map((pattern) => this.waitForLine(pattern, { since, timeoutMs })));
  }

  /** Sends `signal` (SIGINT: Node-RED closes every node, then exits) and awaits the exit. */
  async stop({ signal = "SIGINT", timeoutMs = 15_000 } = {}) {
    if (!this.running) return this.exitStatus;
    this.child.kill(signal);
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        this.kill();
        reject(new Error(`Node-RED did not exit within ${timeoutMs} ms of ${signal}:\n${this.tail()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** For after-hooks: SIGKILL if it is still running. */
  async kill() {
    if (!this.running) return this.exitStatus;
    this.child.kill("SIGKILL");
    return this.exited;
  }
}

/**
 * Starts `node red.js --userDir <userDir> --port <port> --settings <settingsFile>` and resolves once the
 * flows are started and the server listens (both log lines), or rejects with the output when it exits or
 * times out first. `nodeArgs` go before red.js (e.g. `--cpu-prof`). `uid`/`gid` run it as another user (the
 * parent must be root). Set CLARUS_TEST_ECHO=1 to see the log.
 */
async function startNodeRed({
  redJs = require.resolve("node-red/red.js"),
  nodeBinary = process.execPath,
  nodeArgs = [],
  userDir,
  port,
  settingsFile = path.join(userDir, "settings.js"),
  env = {},
  readyTimeoutMs = 30_000,
  echo = process.env.CLARUS_TEST_ECHO === "1",
  uid,
  gid,
}) {
  const args = [...nodeArgs, redJs, "--userDir", userDir, "--port", String(port), "--settings", settingsFile];
  const child = spawn(nodeBinary, args, {
    cwd: userDir,
    env: { ...cleanNpmEnv(), FORCE_COLOR: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    ...(uid === undefined ? {} : { uid, gid }),
  });
  const red = new RedProcess(child, { port, echo });
  const spawned = new Promise((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", reject);
  });
  await spawned;
  try {
    await red.waitUntilReady({ timeoutMs: readyTimeoutMs });
  } catch (error) {
    await red.kill();
    throw error;
  }
  return red;
}

/**
 * One HTTP request on a fresh connection (no keep-alive pool, so a restarted server is never reached
 * through a dead socket). An object body is sent as JSON. Resolves with status, headers, text and json().
 */
function request({ port, method = "GET", path: urlPath, headers = {}, body, timeoutMs = 15_000 }) {
  let payload;
  const sent = { ...headers };
  if (body !== undefined) {
    payload = typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    if (!Object.keys(sent).some((name) => name.toLowerCase() === "content-type")) {
      sent["Content-Type"] = "application/json";
    }
    sent["Content-Length"] = Buffer.byteLength(payload);
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method, path: urlPath, headers: sent, agent: false, timeout: timeoutMs },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${urlPath}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** GET /nodes from the admin API: every node set with module, types, enabled and err. */
async function adminNodes(port) {
  const res = await request({ port, path: "/nodes", headers: { Accept: "application/json" } });
  if (res.status !== 200) throw new Error(`GET /nodes answered ${res.status}: ${res.text}`);
  return res.json();
}

/**
 * A deploy through the admin API (v2: `{flows}` in, `{rev}` out). Node-RED answers once the old flows are
 * stopped but before the new ones start, so this also awaits the "Started …" log line of this deploy. `headers`
 * carries credentials where settings.js has adminAuth.
 */
async function deployFlows(red, flows, { deploymentType = "full", timeoutMs = 15_000, headers = {} } = {}) {
  const since = red.lines.length;
  const res = await request({
    port: red.port,
    method: "POST",
    path: "/flows",
    headers: { ...headers, "Node-RED-API-Version": "v2", "Node-RED-Deployment-Type": deploymentType },
    body: { flows },
  });
  if (res.status !== 200) throw new Error(`POST /flows answered ${res.status}: ${res.text}`);
  await red.waitForLine(STARTED, { since, timeoutMs });
  return res.json();
}

module.exports = {
  REPO_ROOT,
  READY_PATTERNS,
  runCommand,
  cleanNpmEnv,
  makeTempDir,
  removeDir,
  freePort,
  packPackage,
  linkPackage,
  cleanCheckout,
  installIntoUserDir,
  writeSettings,
  credentialsFile,
  startNodeRed,
  RedProcess,
  request,
  adminNodes,
  deployFlows,
};
