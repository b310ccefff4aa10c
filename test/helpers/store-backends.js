// The ConnectionStore backends the contract suite (test/system/store-contract_spec.js) runs against, one factory
// each. A backend is { name, shared, start(), create(options), stop() }:
// - `shared`: two stores made by `create` with the same options see one state, as two Node-RED instances on
//   one Redis do (claims, inbox, leases across instances); a single-instance backend (files) sets it false.
// - `create({ claimTtlMs, redeliverMs, namespace })` returns a fresh store; `namespace` separates tests.
// - The file backend builds the file store in a temp directory (`namespace` as the connection id) and sets
//   `shared: false`.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const { RedisServer } = require("./redis-server");

const build = path.join(__dirname, "..", "..", "build", "nodes", "lib", "store");

/**
 * A log that keeps its lines, so a test can assert what was (and was not) logged, and await a line by event:
 * `until(predicate)` resolves once the lines so far satisfy `predicate(lines)`.
 */
function recordingLog() {
  const lines = [];
  const waiters = [];
  const log = {};
  for (const level of ["info", "warn", "debug"]) {
    log[level] = (message) => {
      lines.push({ level, message });
      for (const waiter of waiters.slice()) waiter();
    };
  }
  function until(predicate, timeoutMs = 15_000) {
    if (predicate(lines)) return Promise.resolve(lines);
    return new Promise((resolve, reject) => {
      const waiter = () => {
        if (!predicate(lines)) return;
        clearTimeout(timer);
        waiters.splice(waiters.indexOf(waiter), 1);
        resolve(lines);
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(
          new Error(
            `log condition not met in ${timeoutMs} ms:\n${lines.map((line) => line.message).join("\n")}`,
          ),
        );
      }, timeoutMs);
      waiters.push(waiter);
    });
  }
  return { log, lines, until };
}

function redisBackend() {
  const { createRedisStore } = require(path.join(build, "redis", "redis-store.js"));
  const server = new RedisServer();
  const stores = [];
  return {
    name: "redis",
    shared: true,
    server,
    async start() {
      await server.start();
    },
    create({ claimTtlMs = 60_000, redeliverMs = 60_000, namespace = "test", log = recordingLog().log } = {}) {
      const store = createRedisStore({
        redisUrl: server.url(),
        prefix: `clarus:contract:${namespace}:`,
        claimTtlMs,
        redeliverMs,
        log,
      });
      stores.push(store);
      return store;
    },
    async stop() {
      await Promise.all(stores.splice(0).map((store) => store.close(false)));
      await server.dispose();
    },
  };
}

function fileBackend() {
  const { FileConnectionStore } = require(path.join(build, "file", "file-store.js"));
  let directory;
  const stores = [];
  return {
    name: "file",
    shared: false,
    async start() {
      directory = fs.mkdtempSync(path.join(os.tmpdir(), "clarus-contract-"));
    },
    create({ claimTtlMs = 60_000, redeliverMs = 60_000, namespace = "test", log = recordingLog().log } = {}) {
      const store = new FileConnectionStore({
        directory,
        connectionId: namespace,
        dedupeTtlMs: claimTtlMs,
        dedupeCapacity: 100_000,
        redeliverMs,
        warn: log.warn,
      });
      stores.push(store);
      return store;
    },
    async stop() {
      await Promise.all(stores.splice(0).map((store) => store.close(false)));
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

const STORE_BACKENDS = [fileBackend, redisBackend];

module.exports = { STORE_BACKENDS, recordingLog };
