// npm run bench:poll: a clarus-poll backfill of 100,000 records from the simulator at pageSize 100, through
// to a downstream node, in a real Node-RED (red.js). Prints records/s and the Node-RED process's peak RSS
// (VmHWM), at 10,000 and at 100,000 records, to show that memory does not grow with the number of records:
// pages are streamed, not accumulated. The simulator runs in its own process so its memory is not counted.
const { fork } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const {
  REPO_ROOT,
  makeTempDir,
  removeDir,
  freePort,
  writeSettings,
  startNodeRed,
  deployFlows,
} = require("../test/helpers/red-process");

const MODULE = "@wmsflow/node-red-clarus";
const PAGE_SIZE = 100;
const RUNS = (process.env.BENCH_RUNS ?? "10000,100000").split(",").map(Number);

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

/** Peak and current resident set of a process, from /proc (Linux). */
function memoryMiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)[1]);
  return { peak: kib("VmHWM") / 1024, current: kib("VmRSS") / 1024 };
}

function benchFlow(info) {
  const tab = "bench";
  return [
    { id: tab, type: "tab", label: "bench" },
    {
      id: "conn",
      type: "clarus-connection",
      subdomain: info.subdomain,
      apiUrl: info.url,
      dedupeHours: 72,
      dedupeCapacity: 200_000,
      credentials: { clientId: info.clientId, clientSecret: info.clientSecret },
    },
    { id: "start", type: "http in", z: tab, url: "/bench/start", method: "post", wires: [["since", "ack"]] },
    { id: "ack", type: "http response", z: tab, statusCode: "202", wires: [] },
    {
      id: "since",
      type: "change",
      z: tab,
      rules: [{ t: "set", p: "since", pt: "msg", to: "2000-01-01T00:00:00Z", tot: "str" }],
      wires: [["poll"]],
    },
    {
      id: "poll",
      type: "clarus-poll",
      z: tab,
      connection: "conn",
      stream: "stock.transactions",
      intervalMinutes: 600,
      lookbackMinutes: 10,
      pageSize: PAGE_SIZE,
      maxPages: 100_000,
      runOnStart: false,
      wires: [["count"]],
    },
    // The downstream node: counts what arrives.
    {
      id: "count",
      type: "function",
      z: tab,
      func: 'flow.set("count", (flow.get("count") || 0) + 1);\nreturn null;',
      outputs: 1,
      wires: [[]],
    },
    { id: "on-complete", type: "complete", z: tab, scope: ["poll"], wires: [["finished"]] },
    {
      id: "finished",
      type: "function",
      z: tab,
      func: 'flow.set("finishedAt", Date.now());\nreturn null;',
      outputs: 1,
      wires: [[]],
    },
    { id: "status", type: "http in", z: tab, url: "/bench/status", method: "get", wires: [["report"]] },
    {
      id: "report",
      type: "function",
      z: tab,
      func: 'msg.payload = { count: flow.get("count") || 0, finishedAt: flow.get("finishedAt") };\nreturn msg;',
      outputs: 1,
      wires: [["reply"]],
    },
    { id: "reply", type: "http response", z: tab, wires: [] },
  ];
}

async function backfill(records) {
  const { child, info } = await startSimulatorProcess(records);
  const tmp = makeTempDir("clarus-bench-poll-");
  const userDir = path.join(tmp, "userDir");
  const link = path.join(userDir, "node_modules", MODULE);
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.symlinkSync(REPO_ROOT, link, "dir");
  fs.writeFileSync(path.join(userDir, "package.json"), JSON.stringify({ name: "bench", private: true }));
  const port = await freePort();
  writeSettings({ userDir, port });
  const red = await startNodeRed({ userDir, port });
  try {
    await deployFlows(red, benchFlow(info));
    const before = memoryMiB(red.child.pid);
    const startedAt = Date.now();
    const started = await fetch(`${red.baseUrl}/bench/start`, { method: "POST" });
    if (started.status !== 202) throw new Error(`start answered ${started.status}`);
    let status;
    const deadline = Date.now() + 600_000;
    // A bench, not a test: asking for the count a few times a second is fine here.
    for (;;) {
      status = await (await fetch(`${red.baseUrl}/bench/status`)).json();
      if (status.finishedAt && status.count >= records) break;
      if (status.finishedAt && Date.now() - status.finishedAt > 5000) break;
      if (Date.now() > deadline)
        throw new Error(`no end after 10 minutes: ${JSON.stringify(status)}\n${red.tail()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const seconds = (status.finishedAt - startedAt) / 1000;
    const memory = memoryMiB(red.child.pid);
    if (status.count !== records) throw new Error(`downstream received ${status.count} of ${records}`);
    return { records, seconds, rate: records / seconds, peakMiB: memory.peak, startMiB: before.current };
  } finally {
    await red.stop();
    child.disconnect();
    removeDir(tmp);
  }
}

async function main() {
  const results = [];
  for (const records of RUNS) results.push(await backfill(records));
  console.log(
    `\nclarus-poll backfill in Node-RED ${require("node-red/package.json").version} on Node ${process.version}`,
  );
  console.log(`stream stock.transactions, pageSize ${PAGE_SIZE}, downstream: a function node counting`);
  console.log("records   seconds   records/s   Node-RED peak RSS (MiB)   RSS before the run (MiB)");
  for (const r of results) {
    console.log(
      `${String(r.records).padEnd(9)} ${r.seconds.toFixed(2).padStart(7)}   ${String(Math.round(r.rate)).padStart(9)}` +
        `   ${r.peakMiB.toFixed(0).padStart(23)}   ${r.startMiB.toFixed(0).padStart(24)}`,
    );
  }
  if (results.length < 2) return;
  const [small, large] = results;
  const growth = large.peakMiB - small.peakMiB;
  console.log(
    `\nGoal: at least 5,000 records/s -> ${large.rate >= 5000 ? "met" : "NOT met"} (${Math.round(large.rate)})`,
  );
  console.log(
    `Peak RSS from 10,000 to 100,000 records: ${growth >= 0 ? "+" : ""}${growth.toFixed(0)} MiB for 10x the records ` +
      "(the dedupe store keeps one key per record, about 16 MiB per 100,000 keys; pages themselves are not kept)",
  );
}
