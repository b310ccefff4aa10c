// npm run bench:poll — a clarus-poll backfill of 100,000 records from the simulator at pageSize 100,
// through to a downstream node. Prints records/s and the peak RSS of the Node-RED process, at 10,000 and
// at 100,000 records, to show memory does not grow with the number of records (pages are streamed).
// The simulator runs in a child process so its own memory is not counted.
const { fork } = require("node:child_process");
const path = require("node:path");

if (process.argv[2] === "--simulator") {
  runSimulator(Number(process.argv[3]));
} else {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

async function runSimulator(records) {
  const { startSimulator } = require("../build/dev/sim/index.js");
  const sim = await startSimulator({ history: 0, seed: 1 });
  sim.generate(records, ["stock.positively_adjusted"]);
  process.send({
    url: sim.url,
    subdomain: sim.subdomain,
    clientId: sim.clientId,
    clientSecret: sim.clientSecret,
  });
  process.on("disconnect", () => sim.stop().then(() => process.exit(0)));
}

function startSimulatorProcess(records) {
  const child = fork(__filename, ["--simulator", String(records)], { stdio: "inherit" });
  return new Promise((resolve, reject) => {
    child.once("message", (info) => resolve({ child, info }));
    child.once("error", reject);
  });
}

async function main() {
  const helper = require("node-red-node-test-helper");
  helper.init(require.resolve("node-red"));
  const build = path.join(__dirname, "..", "build", "nodes");
  const nodes = ["clarus-connection.js", "clarus-poll.js"].map((file) => require(path.join(build, file)));
  await helper.startServer();
  const results = [];
  for (const records of [10_000, 100_000]) results.push(await backfill(helper, nodes, records));
  await helper.stopServer();
  console.log("\nclarus-poll backfill, stream stock.transactions, pageSize 100, downstream: one node");
  console.log("records   seconds   records/s   peak RSS (MiB)   RSS before (MiB)");
  for (const r of results) {
    console.log(
      `${String(r.records).padEnd(9)} ${r.seconds.toFixed(2).padStart(7)}   ${String(Math.round(r.rate)).padStart(9)}   ${r.peakMiB.toFixed(0).padStart(14)}   ${r.startMiB.toFixed(0).padStart(16)}`,
    );
  }
  const [small, large] = results;
  console.log(
    `\nGoal: at least 5,000 records/s -> ${large.rate >= 5000 ? "met" : "NOT met"} (${Math.round(large.rate)})`,
  );
  console.log(
    `Memory growth from 10k to 100k records: ${(large.peakMiB - small.peakMiB).toFixed(0)} MiB peak RSS ` +
      `(${large.peakMiB - small.peakMiB < 50 ? "flat: pages are streamed" : "GROWS with the number of records"})`,
  );
}

async function backfill(helper, nodes, records) {
  const { child, info } = await startSimulatorProcess(records);
  helper.settings({ clarus: { timeoutMs: 30_000 } });
  await helper.load(
    nodes,
    [
      {
        id: "conn",
        type: "clarus-connection",
        subdomain: info.subdomain,
        apiUrl: info.url,
        dedupeHours: 72,
        dedupeCapacity: 200_000,
      },
      {
        id: "poll",
        type: "clarus-poll",
        connection: "conn",
        stream: "stock.transactions",
        pageSize: 100,
        maxPages: 100_000,
        intervalMinutes: 60,
        runOnStart: false,
        wires: [["sink"]],
      },
      { id: "done", type: "complete", scope: ["poll"], wires: [["finished"]] },
      { id: "sink", type: "helper" },
      { id: "finished", type: "helper" },
    ],
    { conn: { clientId: info.clientId, clientSecret: info.clientSecret } },
  );
  global.gc?.();
  let received = 0;
  helper.getNode("sink").on("input", () => received++);
  const startMiB = process.memoryUsage().rss / 2 ** 20;
  let peak = startMiB;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss / 2 ** 20)), 20);
  const finished = new Promise((resolve) => helper.getNode("finished").once("input", resolve));
  const started = process.hrtime.bigint();
  helper.getNode("poll").receive({ since: new Date(Date.now() - 86_400_000).toISOString() });
  await finished;
  while (received < records) await new Promise((resolve) => setImmediate(resolve));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss / 2 ** 20);
  await helper.unload();
  child.disconnect();
  if (received !== records) throw new Error(`received ${received} of ${records}`);
  return { records, seconds, rate: records / seconds, peakMiB: peak, startMiB };
}
