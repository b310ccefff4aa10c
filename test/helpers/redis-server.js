// A real redis-server for the tests (Debian's package; .ci/run installs it): its own process on a free loopback
// port, no persistence, stopped when the test process ends whatever the outcome. It can be stopped and started
// again on the same port, paused (SIGSTOP: a Redis that accepts connections and answers nothing) and resumed,
// so the "Redis restarts" and "Redis hangs" paths run against the real server, never a mock.
const { execFileSync, spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");

const { freePort } = require("./red-process");

const READY = /Ready to accept connections/;
const running = new Set();

// Whatever happens to the test process, no redis-server outlives it.
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/** Self-signed CA and a server certificate for 127.0.0.1 / localhost, made with openssl into `dir`. */
function makeTlsFiles(dir) {
  const file = (name) => path.join(dir, name);
  const openssl = (args) => execFileSync("openssl", args, { stdio: "pipe" });
  openssl(
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=clarus test CA"].concat([
      "-keyout",
      file("ca.key"),
      "-out",
      file("ca.crt"),
    ]),
  );
  openssl(
    ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost"].concat([
      "-keyout",
      file("server.key"),
      "-out",
      file("server.csr"),
    ]),
  );
  fs.writeFileSync(file("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  openssl(
    ["x509", "-req", "-in", file("server.csr"), "-CA", file("ca.crt"), "-CAkey", file("ca.key")].concat([
      "-CAcreateserial",
      "-days",
      "2",
      "-extfile",
      file("server.ext"),
      "-out",
      file("server.crt"),
    ]),
  );
  return { ca: file("ca.crt"), cert: file("server.crt"), key: file("server.key") };
}

class RedisServer {
  /**
   * @param {object} options
   * @param {string} [options.password] requirepass
   * @param {boolean} [options.tls] serve TLS only (rediss://), with a CA of its own (`tlsFiles.ca`)
   * @param {number} [options.databases] how many databases (SELECT beyond them fails)
   * @param {string[]} [options.args] more redis-server arguments
   */
  constructor({ password, tls = false, databases = 16, args = [] } = {}) {
    this.password = password;
    this.tls = tls;
    this.databases = databases;
    this.extraArgs = args;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "clarus-redis-"));
    this.tlsFiles = tls ? makeTlsFiles(this.dir) : undefined;
    this.port = undefined;
    this.child = undefined;
    this.lines = [];
  }

  /** `redis://` (or `rediss://`) URL of this server, with its password unless `password` (even undefined) is given. */
  url(options = {}) {
    const password = "password" in options ? options.password : this.password;
    const { db } = options;
    const auth = password === undefined ? "" : `:${encodeURIComponent(password)}@`;
    return `${this.tls ? "rediss" : "redis"}://${auth}127.0.0.1:${this.port}${db === undefined ? "" : `/${db}`}`;
  }

  args() {
    const listen = this.tls
      ? ["--port", "0", "--tls-port", String(this.port), "--tls-cert-file", this.tlsFiles.cert]
          .concat(["--tls-key-file", this.tlsFiles.key, "--tls-ca-cert-file", this.tlsFiles.ca])
          .concat(["--tls-auth-clients", "no"])
      : ["--port", String(this.port)];
    return [
      ...listen,
      ...["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", this.dir],
      ...["--databases", String(this.databases), "--daemonize", "no", "--loglevel", "notice"],
      ...(this.password === undefined ? [] : ["--requirepass", this.password]),
      ...this.extraArgs,
    ];
  }

  /** Starts it (on a free port the first time, on the same port after a stop) and awaits "Ready". */
  async start({ timeoutMs = 15_000 } = {}) {
    if (this.child) return this;
    this.port ??= await freePort();
    const child = spawn("redis-server", this.args(), { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    running.add(child);
    const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    child.once("exit", () => {
      running.delete(child);
      if (this.child === child) this.child = undefined;
    });
    this.exited = exited;
    const ready = new Promise((resolve) => {
      for (const stream of [child.stdout, child.stderr]) {
        readline.createInterface({ input: stream }).on("line", (line) => {
          this.lines.push(line);
          if (READY.test(line)) resolve();
        });
      }
    });
    let timer;
    const failed = Promise.race([
      exited.then((status) => {
        throw new Error(
          `redis-server exited ${JSON.stringify(status)}:\n${this.lines.slice(-20).join("\n")}`,
        );
      }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`redis-server not ready in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    try {
      await Promise.race([ready, failed]);
    } catch (error) {
      child.kill("SIGKILL");
      throw error;
    } finally {
      clearTimeout(timer);
    }
    failed.catch(() => {});
    return this;
  }

  /** Stops it (SIGTERM, or SIGKILL: no goodbye to the clients) and awaits the exit. */
  async stop({ signal = "SIGTERM" } = {}) {
    await this.closeInspector();
    const child = this.child;
    if (!child) return;
    if (this.paused) child.kill("SIGCONT");
    this.paused = false;
    child.kill(signal);
    await this.exited;
  }

  async restart() {
    await this.stop();
    return this.start();
  }

  /** SIGSTOP: the kernel still accepts connections, Redis answers nothing, as a hung server would. */
  pause() {
    this.child.kill("SIGSTOP");
    this.paused = true;
  }

  resume() {
    this.child.kill("SIGCONT");
    this.paused = false;
  }

  /**
   * A plain node-redis client on this server, for tests to look at keys and clients (not through the store).
   * One per server, connected on first use and again after a restart; destroyed by stop() and dispose().
   */
  async inspector() {
    const { createClient } = require("@redis/client");
    this.inspecting ??= createClient({ url: this.url() })
      .on("error", () => undefined)
      .connect();
    return this.inspecting;
  }

  /** How many clients are connected under `name` (the store names its connection node-red-clarus). */
  async clientsNamed(name = "node-red-clarus") {
    const clients = await (await this.inspector()).clientList();
    return clients.filter((client) => client.name === name).length;
  }

  async closeInspector() {
    const inspecting = this.inspecting;
    this.inspecting = undefined;
    if (inspecting) (await inspecting.catch(() => undefined))?.destroy();
  }

  /** Stops it and removes its directory; for after-hooks. */
  async dispose() {
    await this.stop({ signal: "SIGKILL" });
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts a redis-server; `options` as for RedisServer. */
async function startRedis(options) {
  return new RedisServer(options).start();
}

module.exports = { RedisServer, startRedis };
