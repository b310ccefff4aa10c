// `npm run bench:store`: the connection store's claim path (the dedupe of every delivery), the Redis store
// against the file store, same machine, same run, each backend in a fresh child process. Prints figures; it is
// not a test and fails only when the bench itself cannot run.
//
//   node scripts/bench-store.js [--claims 100000] [--concurrency 10] [--keys 1000000] [--rounds 2]
//                               [--baseline <another checkout's build/nodes/lib/store>]
//
// 1. Throughput: `--concurrency` callers (as many as webhook connections) claim `--claims` fresh keys, one
//    await at a time each; claims/s and the latency percentiles of one claim.
// 2. Memory: one process claims `--keys` fresh keys, then reports its RSS and heap (after a GC). With Redis the
//    keys live in redis-server (its used_memory is printed too) and the Node.js process stays flat; with files
//    every key is in the process (the file store holds up to dedupeCapacity keys, set to `--keys` here).
//
// The file backend is the file ConnectionStore (nodes/lib/store/file/file-store.ts): its dedupe store and journal.
// --baseline adds a `file-base` row of each table: the file store built from another checkout (a commit before a
// change), run alternately with this one in the same run, so a change's cost shows as a ratio on a shared machine.
const { execFileSync, fork } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { parseArgs } = require("node:util");

const { RedisServer } = require("../test/helpers/redis-server");

const BUILD = path.join(__dirname, "..", "build", "nodes", "lib", "store");

const { values: options } = parseArgs({
  options: {
    claims: { type: "string", default: "100000" },
    concurrency: { type: "string", default: "10" },
    keys: { type: "string", default: "1000000" },
    rounds: { type: "string", default: "2" },
    // Internal: run one measurement in this (child) process.
    child: { type: "string" },
    backend: { type: "string" },
    url: { type: "string" },
    baseline: { type: "string" },
    build: { type: "string" },
  },
});

const quiet = { info() {}, warn: (message) => process.stderr.write(`${message}\n`), debug() {} };

async function redisStore(url) {
  const { createRedisStore } = require(path.join(BUILD, "redis", "redis-store.js"));
  const store = createRedisStore({
    redisUrl: url,
    prefix: `bench:${process.pid}:`,
    claimTtlMs: 72 * 3_600_000,
    redeliverMs: 300_000,
    log: quiet,
  });
  // The first call waits for the connection; afterwards every call is a round trip.
  await store.claim("warm-up");
  return { claim: (key) => store.claim(key), close: () => store.close(false) };
}

function fileStore(capacity) {
  const { FileConnectionStore } = require(path.join(options.build ?? BUILD, "file", "file-store.js"));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clarus-bench-store-"));
  const store = new FileConnectionStore({
    directory: dir,
    connectionId: "bench",
    dedupeTtlMs: 72 * 3_600_000,
    dedupeCapacity: capacity,
    redeliverMs: 300_000,
    warn: quiet.warn,
  });
  return {
    claim: (key) => store.claim(key),
    // The digest index's arrays; undefined for a --baseline build from before the index.
    indexBytes: () => store.dedupe?.indexBytes,
    close: async () => {
      await store.close(false);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openStore() {
  if (options.backend === "redis") return redisStore(options.url);
  return fileStore(Math.max(Number(options.keys), Number(options.claims)) + 10_000);
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function throughputChild() {
  const store = await openStore();
  const total = Number(options.claims);
  const concurrency = Number(options.concurrency);
  const latencies = new Float64Array(total);
  let next = 0;
  let fresh = 0;
  async function caller(prefix) {
    for (let i = next++; i < total; i = next++) {
      const started = process.hrtime.bigint();
      if (await store.claim(`${prefix}:goods_out.completed:${i}`)) fresh++;
      latencies[i] = Number(process.hrtime.bigint() - started) / 1e6;
    }
  }
  // Warm-up (JIT, connection, script cache), not measured.
  for (let i = 0; i < 2000; i++) await store.claim(`warm:${i}`);
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, () => caller(`run-${process.pid}`)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await store.close();
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  return {
    claimsPerSecond: Math.round(total / seconds),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
    fresh,
  };
}

function memory() {
  global.gc?.();
  const { rss, heapUsed, arrayBuffers } = process.memoryUsage();
  // Typed arrays (the digest index) are outside the heap: arrayBuffers counts them.
  return { rssMiB: rss / 2 ** 20, heapMiB: heapUsed / 2 ** 20, arrayBuffersMiB: arrayBuffers / 2 ** 20 };
}

async function memoryChild() {
  const store = await openStore();
  const before = memory();
  const keys = Number(options.keys);
  const checkpoints = [];
  let next = 0;
  let claimed = 0;
  // 100 callers keep Redis's pipeline full; the file store does not care. The RSS is read at each quarter, so
  // growth (keys held in the process) shows apart from a one-off high-water mark.
  async function caller() {
    for (let i = next++; i < keys; i = next++) {
      await store.claim(`goods_out.completed:${1_000_000_000 + i}`);
      if (++claimed % Math.ceil(keys / 4) === 0) checkpoints.push(memory().rssMiB);
    }
  }
  const started = Date.now();
  await Promise.all(Array.from({ length: 100 }, caller));
  const seconds = (Date.now() - started) / 1000;
  const after = memory();
  const indexBytes = store.indexBytes?.();
  await store.close();
  return { before, after, checkpoints, seconds, indexBytes };
}

/** The backends of each table: the Redis store, this checkout's file store and, with --baseline, another's. */
const BACKENDS = ["file", ...(options.baseline ? ["file-base"] : []), "redis"];

function runChild(mode, name, url) {
  const backend = name === "redis" ? "redis" : "file";
  const args = ["--child", mode, "--backend", backend, "--claims", options.claims, "--keys", options.keys];
  if (name === "file-base") args.push("--build", path.resolve(options.baseline));
  args.push("--concurrency", options.concurrency, ...(url ? ["--url", url] : []));
  return new Promise((resolve, reject) => {
    const child = fork(__filename, args, {
      execArgv: ["--expose-gc"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    child.once("message", resolve);
    child.once("exit", (code) =>
      code === 0 ? undefined : reject(new Error(`${mode} ${name} exited ${code}`)),
    );
  });
}

function redisUsedMemoryMiB(server) {
  const info = execFileSync("redis-cli", ["-p", String(server.port), "info", "memory"], { encoding: "utf8" });
  return Number(/used_memory:(\d+)/.exec(info)[1]) / 2 ** 20;
}

const fmt = (value, digits = 2) => value.toFixed(digits);

async function main() {
  const server = await new RedisServer().start();
  try {
    const url = server.url();
    console.log(
      `claim throughput: ${options.claims} fresh keys, ${options.concurrency} concurrent callers, ${options.rounds} rounds (Node ${process.version}, ${os.cpus().length} CPUs)`,
    );
    console.log("backend    round  claims/s  p50 ms  p99 ms  max ms");
    const best = {};
    for (let round = 1; round <= Number(options.rounds); round++) {
      for (const backend of BACKENDS) {
        const result = await runChild("throughput", backend, backend === "redis" ? url : undefined);
        if (result.fresh !== Number(options.claims))
          throw new Error(`${backend}: ${result.fresh} fresh claims`);
        console.log(
          `${backend.padEnd(9)}  ${String(round).padStart(5)}  ${String(result.claimsPerSecond).padStart(8)}  ${fmt(result.p50).padStart(6)}  ${fmt(result.p99).padStart(6)}  ${fmt(result.max).padStart(6)}`,
        );
        if (!best[backend] || result.claimsPerSecond > best[backend].claimsPerSecond) best[backend] = result;
      }
    }
    console.log(
      `best: redis ${best.redis.claimsPerSecond}/s (p99 ${fmt(best.redis.p99)} ms), file ${best.file.claimsPerSecond}/s (p99 ${fmt(best.file.p99)} ms), redis/file ${fmt(best.redis.claimsPerSecond / best.file.claimsPerSecond)}`,
    );
    if (best["file-base"])
      console.log(
        `file/file-base: ${fmt(best.file.claimsPerSecond / best["file-base"].claimsPerSecond)} (file-base ${best["file-base"].claimsPerSecond}/s, p99 ${fmt(best["file-base"].p99)} ms)`,
      );

    console.log(`\nmemory after ${options.keys} fresh keys (this bench's Node.js process, after GC)`);
    console.log(
      "backend    RSS before  RSS at 25/50/75/100 %          heap after  arrays after  index      seconds  redis used_memory",
    );
    for (const backend of BACKENDS) {
      const redisBefore = redisUsedMemoryMiB(server);
      const result = await runChild("memory", backend, backend === "redis" ? url : undefined);
      const redisGrowth =
        backend === "redis" ? `+${fmt(redisUsedMemoryMiB(server) - redisBefore, 1)} MiB` : "-";
      console.log(
        `${backend.padEnd(9)}  ${`${fmt(result.before.rssMiB, 1)} MiB`.padStart(10)}  ${result.checkpoints
          .map((rss) => fmt(rss, 0))
          .join(" / ")
          .padEnd(
            22,
          )} MiB  ${`${fmt(result.after.heapMiB, 1)} MiB`.padStart(10)}  ${`${fmt(result.after.arrayBuffersMiB, 1)} MiB`.padStart(12)}  ${(result.indexBytes === undefined ? "-" : `${fmt(result.indexBytes / 2 ** 20, 1)} MiB`).padEnd(9)}  ${fmt(result.seconds, 1).padStart(7)}  ${redisGrowth}`,
      );
    }
  } finally {
    await server.dispose();
  }
}

if (options.child) {
  const run = options.child === "memory" ? memoryChild : throughputChild;
  run().then(
    (result) => process.send(result, () => process.exit(0)),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
