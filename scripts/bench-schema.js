// node scripts/bench-schema.js (after npm run build && npm run build:dev): how long reading a huge tenant
// schema blocks Node-RED's event loop. A simulator behind a proxy that adds 10,000 object types of 10 fields
// each to its introspection answer runs in a child process; this process reads the schema as a connection
// does (ClarusClient + TenantSchema), plans the three built-in streams, and prints the answer's size, the
// wall time and the longest event-loop stall (perf_hooks.monitorEventLoopDelay, 1 ms resolution).
const { fork } = require("node:child_process");
const { monitorEventLoopDelay } = require("node:perf_hooks");

const TYPES = Number(process.env.BENCH_TYPES ?? 10_000);
const FIELDS = Number(process.env.BENCH_FIELDS ?? 10);

if (process.argv[2] === "--server") {
  serve().catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

async function serve() {
  const { startSimulator } = require("../build/dev/sim/index.js");
  const { startApiProxy } = require("../test/helpers/api-proxy");
  const sim = await startSimulator({ history: 0, staticToken: "bench" });
  const scalar = { kind: "SCALAR", name: "String", ofType: null };
  const extra = Array.from({ length: TYPES }, (_v, i) => ({
    kind: "OBJECT",
    name: `Extra${i}`,
    fields: Array.from({ length: FIELDS }, (_w, j) => ({ name: `field${j}`, args: [], type: scalar })),
    inputFields: null,
  }));
  const proxy = await startApiProxy(sim, (request, body) => {
    if (!request.query.includes("__schema")) return undefined;
    body.data.__schema.types.push(...extra);
    return body;
  });
  process.send({ url: proxy.url, subdomain: sim.subdomain });
  process.on("disconnect", () => Promise.all([proxy.close(), sim.stop()]).then(() => process.exit(0)));
}

async function main() {
  const child = fork(__filename, ["--server"], { stdio: "inherit" });
  const info = await new Promise((resolve, reject) => {
    child.once("message", resolve);
    child.once("error", reject);
  });
  const { ClarusClient } = require("../build/nodes/lib/api/client.js");
  const { TenantSchema } = require("../build/nodes/lib/schema/tenant-schema.js");
  const { planStream } = require("../build/nodes/lib/poll/stream-plans.js");
  const { TRANSACTION_SUBTYPE_EVENTS } = require("../build/nodes/lib/events/classify.js");
  try {
    let bytes = 0;
    const client = new ClarusClient({ apiUrl: info.url, subdomain: info.subdomain, accessToken: "bench" });
    // Count the answer's bytes as they arrive (axios parses the JSON in one go at the end).
    const http = require("node:http");
    const original = http.request;
    http.request = function (...args) {
      const req = original.apply(this, args);
      req.on("response", (res) => res.on("data", (chunk) => (bytes += chunk.length)));
      return req;
    };
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const started = performance.now();
    const reading = await new TenantSchema(client).read();
    const readMs = performance.now() - started;
    const planStarted = performance.now();
    const plans = ["goods_out.completed", "goods_in.completed", "stock.transactions"].map((name) =>
      planStream(name, reading.model, TRANSACTION_SUBTYPE_EVENTS),
    );
    const planMs = performance.now() - planStarted;
    delay.disable();
    http.request = original;
    console.log(`\nschema reading with ${TYPES} extra types of ${FIELDS} fields (Node ${process.version})`);
    console.log(
      `introspection answer: ${(bytes / 1e6).toFixed(1)} MB, ${reading.types} types, source ${reading.model.source}`,
    );
    console.log(`read (request, JSON parse, model): ${readMs.toFixed(0)} ms wall`);
    console.log(`planning the three built-in streams: ${planMs.toFixed(1)} ms`);
    console.log(
      `event loop: longest stall ${(delay.max / 1e6).toFixed(0)} ms, mean ${(delay.mean / 1e6).toFixed(1)} ms ` +
        `(monitorEventLoopDelay, 1 ms resolution)`,
    );
    console.log(`streams planned: ${plans.filter((p) => p.stream).length} of 3`);
  } finally {
    child.disconnect();
  }
}
