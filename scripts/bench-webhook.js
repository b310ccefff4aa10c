// `npm run bench`: clarus-webhook-in (token, header checks and dedupe on), with `delivery: on-receipt` and with
// `delivery: on-confirm` (each event written and fsync'd to the inbox before the 200, then confirmed by a
// clarus-confirm node), and on-receipt with the connection's store in Redis (`store: redis`, a redis-server of
// its own), each on Node-RED's server, and on-receipt and on-confirm again on a port of their own
// (`listenPort`), against Node-RED's own `http in → http response`, in one real Node-RED process, same
// machine, same run, alternating rounds, and a closing round of core so that every round of a target sits between
// two of core's: a ratio is the median of the rounds' own ratios, each against the mean of those two. Prints figures;
// it is not a test and fails only when the bench itself cannot run.
//
//   node scripts/bench-webhook.js [--duration 8] [--rounds 3] [--warmup 3] [--connections 10] [--profile]
//                                 [--variants] [--memory] [--keys 1000000] [--targets core,dedicated]
//
// --variants then runs core and on-confirm again in three more Node-RED processes, one with the inbox's group
// commit off (every event its own write and fsync), one with fsync off, and one without the room the inbox
// writes ahead of its records (settings.js `clarus.inbox`), to show what grouping saves, what the fsync costs
// and what the room saves.
// --profile starts Node-RED with --cpu-prof and writes the profile to bench-results/ (open it in Chrome
// DevTools or speedscope).
// --memory then measures the Node-RED process's RSS after each quarter of `--keys` unique deliveries (dedupe
// keys) into webhook-in, once with the file store (dedupeCapacity as large as the keys, up to its limit of 10,000,000) and
// once with Redis, each in a fresh Node-RED process (with Redis, the keys live in redis-server).
const fs = require("node:fs");
const path = require("node:path");
const { parseArgs } = require("node:util");

const autocannon = require("autocannon");

const {
  REPO_ROOT,
  adminNodes,
  deployFlows,
  freePort,
  linkPackage,
  makeTempDir,
  removeDir,
  request,
  startNodeRed,
  writeSettings,
} = require("../test/helpers/red-process");

const MODULE = "@wmsflow/node-red-clarus";
const { TOKEN, CLARUS_HEADERS, connectionConfig, webhookConfig } = require("../test/helpers/fixtures");
const { RedisServer } = require("../test/helpers/redis-server");
const HEADERS = { "Content-Type": "application/json", ...CLARUS_HEADERS };
const BODY_BYTES = 600;
const GOALS = {
  ratio: 1.1,
  confirmRatio: 1.0,
  clarusP99Ms: 50,
  redisRatio: 0.8,
  dedicatedRatio: 2.5,
  dedicatedConfirmRatio: 2.0,
  dedicatedP99Ms: 20,
};

const { values: options } = parseArgs({
  options: {
    duration: { type: "string", default: "8" },
    rounds: { type: "string", default: "3" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "10" },
    profile: { type: "boolean", default: false },
    variants: { type: "boolean", default: false },
    memory: { type: "boolean", default: false },
    keys: { type: "string", default: "1000000" },
    targets: { type: "string", default: "" },
  },
});
const DURATION = Number(options.duration);
const ROUNDS = Number(options.rounds);
const WARMUP = Number(options.warmup);
const CONNECTIONS = Number(options.connections);

const TARGETS = {
  core: { path: "/core", label: "core http in → http response" },
  clarus: {
    path: `/clarus/events/${TOKEN}`,
    label: "clarus-webhook-in (token, headers, dedupe), on-receipt",
  },
  confirm: {
    path: `/clarus/confirmed/${TOKEN}`,
    label: "clarus-webhook-in, on-confirm (inbox write + fsync before the 200) → clarus-confirm",
  },
  redis: {
    path: `/clarus/redis/${TOKEN}`,
    label: "clarus-webhook-in, on-receipt, store: redis (SET NX PX on a local redis-server)",
  },
  dedicated: {
    path: `/clarus/events/${TOKEN}`,
    dedicated: true,
    label: "clarus-webhook-in, on-receipt, on a port of its own (listenPort)",
  },
  dedConfirm: {
    path: `/clarus/confirmed/${TOKEN}`,
    dedicated: true,
    label: "clarus-webhook-in, on-confirm (inbox write + fsync), on a port of its own → clarus-confirm",
  },
};
// --targets core,dedicated measures only those (e.g. to profile one path); the ratios need core in the list.
const ALL_TARGETS = options.targets ? options.targets.split(",") : Object.keys(TARGETS);

/**
 * The inbox settings of each process: the default, then (--variants) grouping off, fsync off, and no room
 * written ahead of the records (each write then also extends the file).
 */
const PROCESSES = [
  { name: "default", inbox: undefined, targets: ALL_TARGETS },
  ...(options.variants
    ? [
        {
          name: "group commit off",
          inbox: { groupCommit: false },
          targets: ["core", "confirm", "dedConfirm"],
        },
        { name: "fsync off", inbox: { sync: false }, targets: ["core", "confirm", "dedConfirm"] },
        { name: "no room ahead", inbox: { reserveBytes: 0 }, targets: ["core", "confirm", "dedConfirm"] },
      ]
    : []),
];

function benchFlow(redisUrl) {
  return [
    { id: "bench", type: "tab", label: "bench" },
    connectionConfig({
      id: "conn-redis",
      name: "redis",
      store: "redis",
      credentials: { webhookToken: TOKEN, redisUrl },
    }),
    webhookConfig({
      id: "hook-redis",
      z: "bench",
      name: "",
      connection: "conn-redis",
      path: "/clarus/redis",
      x: 140,
      y: 240,
      wires: [[]],
    }),
    connectionConfig({ dedupeCapacity: 100000, credentials: { webhookToken: TOKEN } }),
    connectionConfig({
      id: "conn-confirm",
      name: "on-confirm",
      dedupeCapacity: 100000,
      delivery: "on-confirm",
      redeliverSeconds: 300,
      maxAttempts: 10,
      credentials: { webhookToken: TOKEN },
    }),
    {
      id: "core-in",
      type: "http in",
      z: "bench",
      name: "",
      url: "/core",
      method: "post",
      upload: false,
      swaggerDoc: "",
      x: 120,
      y: 60,
      wires: [["core-out"]],
    },
    {
      id: "core-out",
      type: "http response",
      z: "bench",
      name: "",
      statusCode: "200",
      headers: {},
      x: 320,
      y: 60,
      wires: [],
    },
    webhookConfig({ z: "bench", name: "", x: 140, y: 120, wires: [[]] }),
    webhookConfig({
      id: "hook-confirm",
      z: "bench",
      name: "",
      connection: "conn-confirm",
      path: "/clarus/confirmed",
      x: 140,
      y: 180,
      wires: [["confirmer"]],
    }),
    // The same two endpoints on a dedicated port: their own paths there, the same connections.
    webhookConfig({
      id: "hook-dedicated",
      z: "bench",
      name: "",
      listenPort: String(dedicatedPort),
      x: 140,
      y: 300,
      wires: [[]],
    }),
    webhookConfig({
      id: "hook-dedicated-confirm",
      z: "bench",
      name: "",
      connection: "conn-confirm",
      path: "/clarus/confirmed",
      listenPort: String(dedicatedPort),
      x: 140,
      y: 360,
      wires: [["confirmer"]],
    }),
    {
      id: "confirmer",
      type: "clarus-confirm",
      z: "bench",
      name: "",
      action: "confirm",
      retrySeconds: 60,
      x: 360,
      y: 180,
      wires: [[]],
    },
  ];
}

/** A goods_out record whose id is unique per request, padded so that every body is BODY_BYTES long. */
const FIRST_ID = 1_000_000;
let nextId = FIRST_ID;
const padding = (() => {
  const probe = JSON.stringify(record(FIRST_ID, ""));
  return "x".repeat(BODY_BYTES - Buffer.byteLength(probe));
})();

function record(id, notes) {
  return {
    id,
    reference: `SO-${id}`,
    goods_out_type: "sales_order",
    goods_out_status_id: 6,
    actual_date_of_dispatch: "2026-11-27T10:00:00Z",
    notes,
  };
}

function bodyFor(id) {
  return JSON.stringify(record(id, padding));
}

/** Node-RED's port, or the dedicated one for a `listenPort` target. */
function portOf(target) {
  return TARGETS[target].dedicated ? dedicatedPort : port;
}

function cannon(target, seconds) {
  return autocannon({
    url: `http://127.0.0.1:${portOf(target)}${TARGETS[target].path}`,
    method: "POST",
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
    headers: HEADERS,
    requests: [
      {
        setupRequest(req) {
          req.body = bodyFor(nextId++);
          return req;
        },
      },
    ],
  });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function row(cells, widths) {
  return cells.map((cell, i) => String(cell).padStart(widths[i])).join("  ");
}

let port;
let dedicatedPort;

const widths = [8, 10, 9, 8, 8, 8, 8, 8];
const verdict = (ok) => (ok ? "met" : "NOT met");

/** One Node-RED process with the inbox tuned as `inbox`: warm-up, then `ROUNDS` alternating rounds of `targets`. */
async function measure(userDir, redisUrl, { name, inbox, targets }) {
  writeSettings({ userDir, port, extra: inbox ? { clarus: { inbox } } : {} });
  // The inbox and dedupe files of an earlier process would only be read back: each process starts empty.
  fs.rmSync(path.join(userDir, "clarus"), { recursive: true, force: true });
  const profileDir = path.join(REPO_ROOT, "bench-results");
  const nodeArgs = options.profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const red = await startNodeRed({ userDir, port, nodeArgs });
  try {
    const sets = (await adminNodes(port)).filter((set) => set.module === MODULE);
    for (const type of ["clarus-connection", "clarus-webhook-in", "clarus-confirm"]) {
      const set = sets.find((candidate) => candidate.types.includes(type));
      if (!set || !set.enabled || set.err) {
        throw new Error(`${type} did not load from the linked user directory:\n${red.tail()}`);
      }
    }
    await deployFlows(red, benchFlow(redisUrl));
    await red.waitForLine(/\[clarus-connection:redis\] connected to Redis/);
    console.log(`process: ${name}${inbox ? ` (settings.js clarus.inbox = ${JSON.stringify(inbox)})` : ""}`);
    console.log(row(["round", "target", "req/s", "p50 ms", "p99 ms", "max ms", "non-2xx", "errors"], widths));
    const results = Object.fromEntries(targets.map((target) => [target, []]));
    const lastIds = {};
    const runRound = async (label, target, seconds) => {
      const startId = nextId;
      const result = await cannon(target, seconds);
      // An id from the middle of the round was certainly sent (the last few built per connection may not be).
      lastIds[target] = Math.floor((startId + nextId) / 2);
      console.log(
        row(
          [
            label,
            target,
            result.requests.average.toFixed(0),
            result.latency.p50,
            result.latency.p99,
            result.latency.max,
            result.non2xx,
            result.errors + result.timeouts,
          ],
          widths,
        ),
      );
      return result;
    };
    for (const target of targets) await runRound("warm-up", target, WARMUP);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const target of targets) results[target].push(await runRound(String(round), target, DURATION));
    }
    // One more round of the first target (core): each round's other targets then sit between two of its rounds.
    const closing = targets.length > 1 ? await runRound("closing", targets[0], DURATION) : undefined;
    const summary = {};
    for (const target of targets) {
      const roundsRps = results[target].map((result) => result.requests.average);
      summary[target] = {
        rps: median(roundsRps),
        roundsRps,
        order: targets.indexOf(target),
        closingRps: target === targets[0] ? closing?.requests.average : undefined,
        p99: median(results[target].map((result) => result.latency.p99)),
        non2xx: results[target].reduce((sum, result) => sum + result.non2xx, 0),
        errors: results[target].reduce((sum, result) => sum + result.errors + result.timeouts, 0),
      };
    }
    console.log("");
    console.log(row(["median", "target", "req/s", "", "p99 ms", "", "non-2xx", "errors"], widths));
    for (const target of targets) {
      const { rps, p99, non2xx, errors } = summary[target];
      console.log(row(["", target, rps.toFixed(0), "", p99, "", non2xx, errors], widths));
    }
    console.log("");
    if (summary.clarus) await checkDedupe("clarus", lastIds.clarus);
    if (summary.redis) await checkDedupe("redis", lastIds.redis);
    if (summary.dedicated) await checkDedupe("dedicated", lastIds.dedicated);
    if (summary.dedConfirm) await checkDedupe("dedConfirm", lastIds.dedConfirm);
    if (summary.confirm) {
      await checkDedupe("confirm", lastIds.confirm);
      const inboxState = await request({ port, path: "/clarus-wms/connections/conn-confirm/dead-letters" });
      const { pending, dead } = inboxState.json();
      console.log(
        `on-confirm inbox after the rounds: ${pending} pending, ${dead} dead (every event was confirmed)`,
      );
    }
    console.log("");
    const status = await red.stop();
    if (options.profile)
      console.log(`CPU profile of Node-RED written to ${profileDir}/ (exit ${status.code})`);
    return summary;
  } finally {
    await red.kill();
  }
}

/** Dedupe was on throughout: a body already sent is answered as a duplicate, a new one is not. */
async function checkDedupe(target, sentId) {
  const repost = async (id) => {
    const res = await request({
      port: portOf(target),
      method: "POST",
      path: TARGETS[target].path,
      headers: HEADERS,
      body: bodyFor(id),
    });
    return `${res.status} ${res.text}`;
  };
  console.log(`${target} dedupe: re-post of id ${sentId} (sent in its last round) → ${await repost(sentId)}`);
  console.log(`${target} dedupe: a new id ${nextId} → ${await repost(nextId++)}`);
}

async function main() {
  const tmp = makeTempDir("clarus-bench-");
  const userDir = path.join(tmp, "userDir");
  const link = path.join(userDir, "node_modules", MODULE);
  const redis = new RedisServer();
  try {
    await redis.start();
    // The package as a user would have it, but linked: <userDir>/node_modules/@wmsflow/node-red-clarus → repo.
    linkPackage(userDir, { name: "clarus-bench", manifest: { version: "0.0.1" } });
    port = await freePort();
    dedicatedPort = await freePort();

    const nodeRedVersion = require("node-red/package.json").version;
    console.log(
      `Node ${process.version}, Node-RED ${nodeRedVersion}, ${require("node:os").cpus().length} CPUs; ` +
        `autocannon ${CONNECTIONS} connections, no pipelining, POST ${BODY_BYTES}-byte bodies (unique ids), ` +
        `${ROUNDS} × ${DURATION} s per target after a ${WARMUP} s warm-up each`,
    );
    for (const [name, target] of Object.entries(TARGETS)) console.log(`  ${name.padEnd(10)} ${target.label}`);
    console.log("");

    const summaries = [];
    for (const setup of PROCESSES) {
      summaries.push({ ...setup, summary: await measure(userDir, redis.url(), setup) });
    }

    const [first] = summaries;
    /**
     * `a`/`b` req/s against its goal, when both were measured. The goal is judged on the median of the
     * rounds' own ratios, each round of `a` against the mean of the rounds of `b` just before and after it:
     * this machine's speed drifts by a third over a run, so a ratio of two medians can pair a fast minute with
     * a slow one.
     */
    const ratioLine = (a, b, goal, note = "") => {
      const [over, under] = [first.summary[a], first.summary[b]];
      if (!over || !under) return;
      const around = (round) => {
        const before = under.roundsRps[round];
        if (under.order > over.order) return before;
        return (before + (under.roundsRps[round + 1] ?? under.closingRps ?? before)) / 2;
      };
      const perRound = over.roundsRps.map((rps, round) => rps / around(round));
      const paired = median(perRound);
      const ofMedians = over.rps / under.rps;
      console.log(
        `ratio ${a}/${b} req/s${note}: ${paired.toFixed(2)}  (goal ≥ ${goal}: ${verdict(paired >= goal)}; ` +
          `rounds ${perRound.map((ratio) => ratio.toFixed(2)).join(", ")}; ratio of the medians ${ofMedians.toFixed(2)})`,
      );
    };
    ratioLine("clarus", "core", GOALS.ratio);
    ratioLine("confirm", "core", GOALS.confirmRatio);
    ratioLine("redis", "clarus", GOALS.redisRatio, " (the Redis store against the file store)");
    ratioLine("dedicated", "core", GOALS.dedicatedRatio);
    ratioLine("dedConfirm", "core", GOALS.dedicatedConfirmRatio);
    for (const target of ["clarus", "confirm", "redis", "dedicated", "dedConfirm"]) {
      if (!first.summary[target]) continue;
      const { p99 } = first.summary[target];
      const goal = TARGETS[target].dedicated ? GOALS.dedicatedP99Ms : GOALS.clarusP99Ms;
      console.log(
        `${target} ack p99: ${p99} ms  (goal < ${goal} ms at ${CONNECTIONS} connections: ` +
          `${verdict(p99 < goal)})`,
      );
    }
    console.log(
      `non-2xx over the measured rounds: ${Object.entries(first.summary)
        .map(([target, { non2xx }]) => `${target} ${non2xx}`)
        .join(", ")}`,
    );
    if (summaries.length > 1 && first.summary.confirm) {
      console.log("");
      console.log("on-confirm by inbox setting (each process measured against its own core rounds):");
      console.log(row(["", "", "req/s", "ratio", "p99 ms", "", "", ""], widths).trimEnd() + "   process");
      for (const target of ["confirm", "dedConfirm"]) {
        for (const { name, summary } of summaries) {
          if (!summary[target]) continue;
          const cells = [
            "",
            target,
            summary[target].rps.toFixed(0),
            (summary[target].rps / summary.core.rps).toFixed(2),
            summary[target].p99,
          ];
          console.log(row(cells, widths.slice(0, 5)) + `   ${name}`);
        }
      }
    }
    console.log(
      "        (dedupeCapacity 100000: beyond that, the least recently seen keys are forgotten first)",
    );
    console.log(`unique bodies built: ${nextId - FIRST_ID}`);
    if (options.memory) await measureMemory(userDir, redis);
  } finally {
    // Unlink first: the clean-up must never walk into the repository the link points at.
    fs.rmSync(link, { force: true });
    removeDir(tmp);
    await redis.dispose();
  }
}

/** The resident set of process `pid` in MiB, from /proc (Linux). */
function rssMiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1]) / 1024;
}

async function redisUsedMiB(server) {
  const info = await (await server.inspector()).info("memory");
  return Number(/^used_memory:(\d+)/m.exec(info)[1]) / 2 ** 20;
}

/**
 * The Node-RED process's RSS after `--keys` unique deliveries, with each store: a fresh process per store, one
 * connection and one webhook-in, the keys sent as fast as 50 connections go.
 */
async function measureMemory(userDir, redis) {
  const keys = Number(options.keys);
  console.log("");
  console.log(
    `memory: the Node-RED process's RSS after ${keys} unique deliveries (dedupe keys) into webhook-in, ` +
      "each store in a fresh Node-RED process",
  );
  // RSS after each quarter tells keys held in the process (it keeps growing) from a heap that settles.
  const marks = [1, 2, 3, 4].map((quarter) => Math.round((keys * quarter) / 4));
  const markLabels = marks.map((mark) => `@${mark >= 1000 ? `${mark / 1000}k` : mark}`);
  const memoryWidths = [6, 8, 12, 12, 12, 12, 7, 10];
  console.log(row(["store", "RSS MiB", ...markLabels, "req/s", "redis MiB"], memoryWidths).trimEnd());
  for (const store of ["file", "redis"]) {
    writeSettings({ userDir, port });
    fs.rmSync(path.join(userDir, "clarus"), { recursive: true, force: true });
    await (await redis.inspector()).flushAll();
    const red = await startNodeRed({ userDir, port });
    try {
      await deployFlows(red, [
        { id: "bench", type: "tab", label: "bench" },
        connectionConfig({
          ...(store === "redis" ? { store: "redis" } : {}),
          dedupeCapacity: Math.min(keys, 10_000_000),
          credentials: { webhookToken: TOKEN, redisUrl: redis.url() },
        }),
        webhookConfig({ z: "bench", name: "", x: 140, y: 60, wires: [[]] }),
      ]);
      // Warm: JIT, the first Redis connection, the HTTP server's buffers.
      await autocannon({ ...memoryLoad(2000), connections: 10 });
      const before = rssMiB(red.child.pid);
      const redisBefore = store === "redis" ? await redisUsedMiB(redis) : 0;
      const rss = [];
      let sent = 0;
      let seconds = 0;
      let failed = 0;
      for (const mark of marks) {
        const result = await autocannon(memoryLoad(mark - sent));
        sent = mark;
        seconds += result.duration;
        failed += result.non2xx + result.errors;
        rss.push(rssMiB(red.child.pid));
      }
      const redisGrowth =
        store === "redis" ? `+${((await redisUsedMiB(redis)) - redisBefore).toFixed(0)}` : "-";
      console.log(
        row(
          [
            store,
            before.toFixed(0),
            ...rss.map((after) => `${after.toFixed(0)} (+${(after - before).toFixed(0)})`),
            (keys / seconds).toFixed(0),
            redisGrowth,
          ],
          memoryWidths,
        ).trimEnd(),
      );
      if (failed > 0) console.log(`  (${failed} non-2xx or errors)`);
      await red.stop();
    } finally {
      await red.kill();
    }
  }
}

function memoryLoad(amount) {
  return {
    url: `http://127.0.0.1:${port}${TARGETS.clarus.path}`,
    method: "POST",
    connections: 50,
    pipelining: 1,
    amount,
    headers: HEADERS,
    requests: [
      {
        setupRequest(req) {
          req.body = bodyFor(nextId++);
          return req;
        },
      },
    ],
  };
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
