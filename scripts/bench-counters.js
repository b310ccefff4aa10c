// `npm run bench:counters -- --baseline <dir>`: what the counters cost on the webhook hot path. Two real Node-RED
// processes run side by side, one with this checkout's build, one with the build in <dir> (a checkout of the
// commit before the counters landed, built there), each with the same flow: one clarus-connection (on-receipt,
// file store) and one clarus-webhook-in with its token, header checks and dedupe. The rounds alternate between
// them (ABBA, so a drift of the shared machine falls on both), and it prints the median req/s of each and the
// ratio this/baseline. Only figures of one run compare: the machine is shared. Not a test.
//
//   git worktree add --detach /tmp/clarus-baseline <commit> && ln -s "$PWD/node_modules" /tmp/clarus-baseline/
//   (cd /tmp/clarus-baseline && npm run build)
//   node scripts/bench-counters.js --baseline /tmp/clarus-baseline [--duration 8] [--rounds 4] [--warmup 3]
//                                  [--connections 10]
//
// The baseline needs only the runtime dependencies this checkout has (its node_modules may be a link to ours).
const fs = require("node:fs");
const path = require("node:path");
const { parseArgs } = require("node:util");

const autocannon = require("autocannon");

const {
  REPO_ROOT,
  deployFlows,
  freePort,
  makeTempDir,
  removeDir,
  request,
  startNodeRed,
  writeSettings,
} = require("../test/helpers/red-process");
const { TOKEN, CLARUS_HEADERS, connectionConfig, webhookConfig } = require("../test/helpers/fixtures");

const MODULE = "@wmsflow/node-red-clarus";
const HEADERS = { "Content-Type": "application/json", ...CLARUS_HEADERS };
const GOAL = 0.97;

const { values: options } = parseArgs({
  options: {
    baseline: { type: "string" },
    duration: { type: "string", default: "8" },
    rounds: { type: "string", default: "4" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "10" },
  },
});
if (!options.baseline) {
  console.error(
    "--baseline <dir>: a built checkout of the commit to compare with (see the top of this file)",
  );
  process.exit(2);
}
const BASELINE = path.resolve(options.baseline);
const DURATION = Number(options.duration);
const ROUNDS = Number(options.rounds);
const WARMUP = Number(options.warmup);
const CONNECTIONS = Number(options.connections);

const FLOW = [
  { id: "bench", type: "tab", label: "bench" },
  connectionConfig({ dedupeCapacity: 100000, credentials: { webhookToken: TOKEN } }),
  webhookConfig({ z: "bench", name: "", x: 140, y: 120, wires: [[]] }),
];

let nextId = 1_000_000;
function body() {
  const id = nextId++;
  return JSON.stringify({
    id,
    reference: `SO-${id}`,
    goods_out_type: "sales_order",
    goods_out_status_id: 6,
    actual_date_of_dispatch: "2026-11-27T10:00:00Z",
    notes: "x".repeat(400),
  });
}

function git(dir, ...args) {
  try {
    return require("node:child_process")
      .execFileSync("git", ["-C", dir, ...args], { encoding: "utf8" })
      .trim();
  } catch {
    return "?";
  }
}

/** A Node-RED process whose user directory links the package at `packageDir`. */
async function start(name, packageDir, tmp) {
  const userDir = path.join(tmp, name);
  const link = path.join(userDir, "node_modules", ...MODULE.split("/"));
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(packageDir, link, "dir");
  fs.writeFileSync(
    path.join(userDir, "package.json"),
    JSON.stringify({ name: `bench-${name}`, private: true, dependencies: { [MODULE]: "*" } }, null, 2),
  );
  const port = await freePort();
  writeSettings({ userDir, port });
  const red = await startNodeRed({ userDir, port });
  await deployFlows(red, FLOW);
  return { name, red, port, link, results: [] };
}

async function round(target, seconds) {
  const result = await autocannon({
    url: `http://127.0.0.1:${target.port}/clarus/events/${TOKEN}`,
    method: "POST",
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
    headers: HEADERS,
    requests: [{ setupRequest: (req) => ({ ...req, body: body() }) }],
  });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${target.name}: ${result.non2xx} non-2xx and ${result.errors} errors in a round`);
  }
  return result;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function main() {
  const tmp = makeTempDir("clarus-bench-counters-");
  const targets = [];
  try {
    targets.push(await start("current", REPO_ROOT, tmp));
    targets.push(await start("baseline", BASELINE, tmp));
    const [current, baseline] = targets;
    // The current build serves metrics; the baseline has no such route.
    const metrics = await request({ port: current.port, path: "/clarus-wms/metrics" });
    const baselineMetrics = await request({ port: baseline.port, path: "/clarus-wms/metrics" });
    console.log(
      `Node ${process.version}, ${require("node:os").cpus().length} CPUs; autocannon ${CONNECTIONS} connections, ` +
        `${ROUNDS} × ${DURATION} s per build after a ${WARMUP} s warm-up, rounds ABBA`,
    );
    console.log(`  current   ${REPO_ROOT} @ ${git(REPO_ROOT, "rev-parse", "--short", "HEAD")}`);
    console.log(`  baseline  ${BASELINE} @ ${git(BASELINE, "log", "-1", "--format=%h %s")}`);
    console.log(`  GET /clarus-wms/metrics: current ${metrics.status}, baseline ${baselineMetrics.status}`);
    console.log("");
    for (const target of targets) await round(target, WARMUP);
    console.log(
      `${"round".padStart(6)}  ${"build".padEnd(9)} ${"req/s".padStart(8)} ${"p99 ms".padStart(7)}`,
    );
    for (let i = 1; i <= ROUNDS; i++) {
      const order = i % 2 === 1 ? [current, baseline] : [baseline, current];
      for (const target of order) {
        const result = await round(target, DURATION);
        target.results.push(result.requests.average);
        console.log(
          `${String(i).padStart(6)}  ${target.name.padEnd(9)} ${result.requests.average.toFixed(0).padStart(8)} ` +
            `${String(result.latency.p99).padStart(7)}`,
        );
      }
    }
    const a = median(current.results);
    const b = median(baseline.results);
    console.log("");
    console.log(`median req/s: current ${a.toFixed(0)}, baseline ${b.toFixed(0)}`);
    console.log(
      `ratio current/baseline: ${(a / b).toFixed(3)}  (goal ≥ ${GOAL}: ${a / b >= GOAL ? "met" : "NOT met"})`,
    );
    const counted = /^clarus_events_total\{[^}]*source="webhook"\} (\d+)$/m.exec(
      (await request({ port: current.port, path: "/clarus-wms/metrics" })).text,
    );
    console.log(
      `clarus_events_total{source="webhook"} of the current build after the rounds: ${counted?.[1]}`,
    );
  } finally {
    for (const target of targets) {
      await target.red.stop().catch(() => target.red.kill());
      // Unlink first: the clean-up must never walk into the checkouts the links point at.
      fs.rmSync(target.link, { force: true });
    }
    removeDir(tmp);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
