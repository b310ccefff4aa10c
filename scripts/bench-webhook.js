// `npm run bench`: clarus-webhook-in (token, header checks and dedupe on) against Node-RED's own
// `http in → http response`, in one real Node-RED process, same machine, same run, alternating rounds.
// Prints figures; it is not a test and fails only when the bench itself cannot run.
//
//   node scripts/bench-webhook.js [--duration 8] [--rounds 3] [--warmup 3] [--connections 10] [--profile]
//
// --profile starts Node-RED with --cpu-prof and writes the profile to bench-results/ (open it in Chrome
// DevTools or speedscope).
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
const { TOKEN, CLARUS_HEADERS, connectionConfig } = require("../test/helpers/fixtures");
const HEADERS = { "Content-Type": "application/json", ...CLARUS_HEADERS };
const BODY_BYTES = 600;
const GOALS = { ratio: 1.1, clarusP99Ms: 50 };

const { values: options } = parseArgs({
  options: {
    duration: { type: "string", default: "8" },
    rounds: { type: "string", default: "3" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "10" },
    profile: { type: "boolean", default: false },
  },
});
const DURATION = Number(options.duration);
const ROUNDS = Number(options.rounds);
const WARMUP = Number(options.warmup);
const CONNECTIONS = Number(options.connections);

const TARGETS = {
  core: { path: "/core", label: "core http in → http response" },
  clarus: { path: `/clarus/events/${TOKEN}`, label: "clarus-webhook-in (token, headers, dedupe)" },
};

function benchFlow() {
  return [
    { id: "bench", type: "tab", label: "bench" },
    connectionConfig({ dedupeCapacity: 100000, credentials: { webhookToken: TOKEN } }),
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
    {
      id: "hook",
      type: "clarus-webhook-in",
      z: "bench",
      name: "",
      connection: "conn",
      path: "/clarus/events",
      method: "POST",
      event: "auto",
      automationIds: "",
      requireToken: true,
      allowIps: "",
      trustProxy: "none",
      maxBytes: 1048576,
      dedupe: true,
      duplicatesOutput: false,
      x: 140,
      y: 120,
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

function cannon(target, seconds) {
  return autocannon({
    url: `http://127.0.0.1:${port}${TARGETS[target].path}`,
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

async function main() {
  const tmp = makeTempDir("clarus-bench-");
  const userDir = path.join(tmp, "userDir");
  const link = path.join(userDir, "node_modules", MODULE);
  let red;
  try {
    linkPackage(userDir, { name: "clarus-bench", manifest: { version: "0.0.1" } });
    port = await freePort();
    writeSettings({ userDir, port });
    const profileDir = path.join(REPO_ROOT, "bench-results");
    const nodeArgs = options.profile ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
    red = await startNodeRed({ userDir, port, nodeArgs });

    const sets = (await adminNodes(port)).filter((set) => set.module === MODULE);
    for (const type of ["clarus-connection", "clarus-webhook-in"]) {
      const set = sets.find((candidate) => candidate.types.includes(type));
      if (!set || !set.enabled || set.err) {
        throw new Error(`${type} did not load from the linked user directory:\n${red.tail()}`);
      }
    }
    await deployFlows(red, benchFlow());

    const nodeRedVersion = require("node-red/package.json").version;
    console.log(
      `Node ${process.version}, Node-RED ${nodeRedVersion}, ${require("node:os").cpus().length} CPUs; ` +
        `autocannon ${CONNECTIONS} connections, no pipelining, POST ${BODY_BYTES}-byte bodies (unique ids), ` +
        `${ROUNDS} × ${DURATION} s per target after a ${WARMUP} s warm-up each`,
    );
    for (const [name, target] of Object.entries(TARGETS)) console.log(`  ${name.padEnd(6)} ${target.label}`);
    console.log("");

    const widths = [8, 7, 9, 8, 8, 8, 8, 8];
    console.log(row(["round", "target", "req/s", "p50 ms", "p99 ms", "max ms", "non-2xx", "errors"], widths));
    const results = { core: [], clarus: [] };
    let lastClarusId;
    const runRound = async (label, target, seconds) => {
      const startId = nextId;
      const result = await cannon(target, seconds);
      // An id from the middle of the round was certainly sent (the last few built per connection may not be).
      if (target === "clarus") lastClarusId = Math.floor((startId + nextId) / 2);
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
    await runRound("warm-up", "core", WARMUP);
    await runRound("warm-up", "clarus", WARMUP);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const target of ["core", "clarus"]) {
        results[target].push(await runRound(String(round), target, DURATION));
      }
    }

    const summary = {};
    for (const target of ["core", "clarus"]) {
      summary[target] = {
        rps: median(results[target].map((result) => result.requests.average)),
        p99: median(results[target].map((result) => result.latency.p99)),
        non2xx: results[target].reduce((sum, result) => sum + result.non2xx, 0),
        errors: results[target].reduce((sum, result) => sum + result.errors + result.timeouts, 0),
      };
    }
    console.log("");
    console.log(row(["median", "target", "req/s", "", "p99 ms", "", "non-2xx", "errors"], widths));
    for (const target of ["core", "clarus"]) {
      const { rps, p99, non2xx, errors } = summary[target];
      console.log(row(["", target, rps.toFixed(0), "", p99, "", non2xx, errors], widths));
    }
    const ratio = summary.clarus.rps / summary.core.rps;
    const verdict = (ok) => (ok ? "met" : "NOT met");
    console.log("");
    console.log(
      `ratio clarus/core req/s: ${ratio.toFixed(2)}  (goal ≥ ${GOALS.ratio}: ${verdict(ratio >= GOALS.ratio)})`,
    );
    console.log(
      `clarus ack p99: ${summary.clarus.p99} ms  (goal < ${GOALS.clarusP99Ms} ms at ${CONNECTIONS} connections: ` +
        `${verdict(summary.clarus.p99 < GOALS.clarusP99Ms)})`,
    );
    console.log(
      `non-2xx over the measured rounds: core ${summary.core.non2xx}, clarus ${summary.clarus.non2xx}`,
    );

    // Dedupe was on throughout: a body already sent is answered as a duplicate, a new one is not.
    const repost = async (id) => {
      const res = await request({
        port,
        method: "POST",
        path: TARGETS.clarus.path,
        headers: HEADERS,
        body: bodyFor(id),
      });
      return `${res.status} ${res.text}`;
    };
    console.log(
      `dedupe: re-post of id ${lastClarusId} (sent in the last clarus round) → ${await repost(lastClarusId)}`,
    );
    console.log(`dedupe: a new id ${nextId} → ${await repost(nextId++)}`);
    console.log(
      "        (dedupeCapacity 100000: beyond that, the least recently seen keys are forgotten first)",
    );
    console.log(`unique bodies built: ${nextId - FIRST_ID}`);

    const status = await red.stop();
    if (options.profile)
      console.log(`CPU profile of Node-RED written to ${profileDir}/ (exit ${status.code})`);
  } finally {
    if (red) await red.kill();
    // Unlink first: the clean-up must never walk into the repository the link points at.
    fs.rmSync(link, { force: true });
    removeDir(tmp);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
