/**
 * `npm start`: the Clarus simulator, a real Node-RED on 127.0.0.1:1880 with this package, and a demo
 * flow already deployed. Events appear in the debug sidebar within seconds; the simulator drops some
 * webhooks on purpose and the poll nodes recover them.
 *
 * One process tree: `npm start` execs this process (package.json), Node-RED is its child, the simulator
 * runs inside it. SIGINT or SIGTERM to this process (Ctrl-C, an IDE's Stop button, a supervisor) stops
 * Node-RED and the simulator and exits 0. The user's changes to the demo's flows are kept across
 * restarts; `npm start -- --reset` (or `npm start --reset`, which npm passes as npm_config_reset) puts the
 * demo flow back.
 *
 * A broken webhook path, for the clarus-alert node (example 06): `POST <simulator>/sim/webhooks` with
 * `{"silent": true}` drops every webhook while the poll still finds the events, `{"silent": false}` ends it.
 * `--no-drops` turns the random drops and repeats off, so only that fault leaves events to the poll;
 * `--silent-webhooks` starts with the webhooks silent.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

import { demoFlow } from "./demo-flow";
import { type Simulator, startSimulator } from "./index";

const REPO_ROOT = path.join(__dirname, "..", "..", "..");
// CLARUS_DEMO_DIR lets the demo's own test run it without touching a user's .demo/.
const USER_DIR = process.env.CLARUS_DEMO_DIR ?? path.join(REPO_ROOT, ".demo");
const PORT = Number(process.env.PORT ?? 1880);
const WEBHOOK_TOKEN = "demo-webhook-token-change-me";
const FLOW_FILE = "flows.json";
/** Node-RED gets this long to close its nodes after SIGINT before it is killed. */
const NODE_RED_STOP_MS = 4000;

interface Running {
  sim?: Simulator;
  red?: ChildProcess;
}

let stopping = false;

async function main(): Promise<void> {
  const running: Running = {};
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log("\nStopping the demo…");
    running.sim?.stopActivity();
    if (running.red) await stopNodeRed(running.red);
    await running.sim?.stop();
    process.exit(code);
  };
  // Before anything starts, so a signal during start-up also stops what has started.
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));

  const reset = resetAsked();
  const noDrops = process.argv.includes("--no-drops");
  const hadFlows = fs.existsSync(path.join(USER_DIR, FLOW_FILE));
  prepareUserDir(reset);
  const sim = await startSimulator({
    subdomain: "acme",
    history: 0,
    webhook: noDrops ? { dropRate: 0, repeatRate: 0 } : { dropRate: 0.15, repeatRate: 0.1 },
  });
  running.sim = sim;
  if (process.argv.includes("--silent-webhooks")) sim.silenceWebhooks(true);
  const kept = !reset && pointFlowsAt(sim.url);

  const red = startNodeRed();
  running.red = red;
  const registered = waitForLines(red, [
    /registered with Clarus|registration with Clarus failed|not registered with Clarus/,
  ]);
  red.once("exit", (code) => {
    if (!stopping) {
      console.error(`Node-RED stopped (exit code ${code}); stopping the demo.`);
      void stop(1);
    }
  });

  await waitForLines(red, [/Started flows/, /Server now running at/]);
  if (kept) {
    console.log(
      `Kept your demo flows (${path.join(USER_DIR, FLOW_FILE)}); npm start -- --reset restores the demo.`,
    );
  } else {
    if (reset) {
      console.log(
        hadFlows
          ? `Reset: your demo flows (${path.join(USER_DIR, FLOW_FILE)}) are replaced by the demo flow.`
          : "Reset: there were no demo flows to replace; deploying the demo flow.",
      );
    }
    const flow = demoFlow({
      apiUrl: sim.url,
      subdomain: sim.subdomain,
      domain: sim.domain,
      automations: [],
      publicUrl: `http://127.0.0.1:${PORT}`,
      register: demoEvents(),
    });
    await deploy(flow, {
      clientId: sim.clientId,
      clientSecret: sim.clientSecret,
      webhookToken: WEBHOOK_TOKEN,
    });
  }
  // The webhook node registers its automations with the simulator's REST API as it starts, as with Clarus;
  // the warehouse starts once they exist, so no event goes to an automation that is not there yet.
  if (kept ? registersWebhooks() : true) await registered;
  sim.startActivity({ intervalMs: Number(process.env.CLARUS_DEMO_INTERVAL_MS ?? 3000) });
  console.log(`
  Clarus WMS demo is running.

    Node-RED editor   http://127.0.0.1:${PORT}/   (open the debug sidebar)
    Clarus simulator  ${sim.url}   (tenant "${sim.subdomain}")
    Webhook URL       http://127.0.0.1:${PORT}/clarus/events/<token>

  Every 3 s the simulated warehouse dispatches an order, completes a receipt, adjusts stock or places or
  releases a hold. ${
    noDrops
      ? "No webhook is dropped or repeated on purpose (--no-drops), so the poll nodes find\n  nothing new"
      : "15% of the webhooks are dropped and 10% sent twice on purpose: the poll nodes recover\n  what was dropped"
  } and every event appears once. Your changes to the flows are kept when you restart;
  npm start -- --reset brings the demo flow back. Press Ctrl-C to stop.

  Break the webhook path (Clarus still works, so the poll finds the events; see example 06):
    curl -X POST ${sim.url}/sim/webhooks -d '{"silent": true}'
    curl -X POST ${sim.url}/sim/webhooks -d '{"silent": false}'${
      sim.webhooksSilent ? "\n  The webhooks are silent now (--silent-webhooks)." : ""
    }
`);
}

/** SIGINT, so Node-RED closes its nodes (poll state, dedupe store) cleanly; SIGKILL if it takes too long. */
async function stopNodeRed(red: ChildProcess): Promise<void> {
  if (red.exitCode !== null || red.signalCode !== null) return;
  const exited = new Promise((resolve) => red.once("exit", resolve));
  red.kill("SIGINT");
  const timer = setTimeout(() => red.kill("SIGKILL"), NODE_RED_STOP_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * Keeps the user's flows from the last run: the simulator listens on a new port each start, so every
 * connection that pointed at a simulator on this machine is pointed at this one. False when there are
 * no flows to keep (first start) or they cannot be read; then the demo flow is deployed.
 */
function pointFlowsAt(apiUrl: string): boolean {
  const file = path.join(USER_DIR, FLOW_FILE);
  let flows: unknown;
  try {
    flows = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return false;
  }
  if (!Array.isArray(flows) || flows.length === 0) return false;
  for (const node of flows as Array<Record<string, unknown>>) {
    if (node?.type === "clarus-connection" && /^http:\/\/127\.0\.0\.1:\d+\/?$/.test(String(node.apiUrl))) {
      node.apiUrl = apiUrl;
      // Registration tells the simulator where this Node-RED listens now.
      if (/^http:\/\/127\.0\.0\.1:\d+\/?$/.test(String(node.publicUrl)))
        node.publicUrl = `http://127.0.0.1:${PORT}`;
    }
  }
  fs.writeFileSync(file, JSON.stringify(flows, null, 4));
  return true;
}

/**
 * `--reset` after `npm start --`, or `npm start --reset` without the `--`: npm then takes the flag as its own
 * config and passes it on only as `npm_config_reset` in the environment.
 */
function resetAsked(): boolean {
  const fromNpm = process.env.npm_config_reset;
  return process.argv.includes("--reset") || (fromNpm !== undefined && fromNpm !== "" && fromNpm !== "false");
}

/** Whether the kept flows have a webhook node that registers automations (whose result is then awaited). */
function registersWebhooks(): boolean {
  try {
    const flows: unknown = JSON.parse(fs.readFileSync(path.join(USER_DIR, FLOW_FILE), "utf8"));
    return (
      Array.isArray(flows) &&
      flows.some(
        (node: Record<string, unknown>) =>
          node?.type === "clarus-webhook-in" && Array.isArray(node.register) && node.register.length > 0,
      )
    );
  } catch {
    return false;
  }
}

function demoEvents(): string[] {
  return [
    "goods_out.completed",
    "goods_in.completed",
    "stock.positively_adjusted",
    "stock.negatively_adjusted",
    "stock.placed_on_hold",
    "stock.released_from_hold",
  ];
}

/** A project-local user directory (git-ignored) with this package linked in, as if installed. */
function prepareUserDir(reset: boolean): void {
  // The simulated tenant is new on every start and reuses its record ids, so yesterday's dedupe keys and
  // poll watermarks would hide today's events.
  fs.rmSync(path.join(USER_DIR, "clarus"), { recursive: true, force: true });
  if (reset) {
    for (const file of [FLOW_FILE, "flows_cred.json", `.${FLOW_FILE}.backup`, ".flows_cred.json.backup"]) {
      fs.rmSync(path.join(USER_DIR, file), { force: true });
    }
  }
  fs.mkdirSync(path.join(USER_DIR, "node_modules", "@wmsflow"), { recursive: true });
  const link = path.join(USER_DIR, "node_modules", "@wmsflow", "node-red-clarus");
  fs.rmSync(link, { recursive: true, force: true });
  fs.symlinkSync(REPO_ROOT, link, "dir");
  const manifest = { name: "clarus-demo", private: true, dependencies: { "@wmsflow/node-red-clarus": "*" } };
  fs.writeFileSync(path.join(USER_DIR, "package.json"), JSON.stringify(manifest, null, 2));
  const settings = {
    uiHost: "127.0.0.1",
    uiPort: PORT,
    flowFile: FLOW_FILE,
    credentialSecret: "clarus-demo",
    logging: { console: { level: "info", metrics: false, audit: false } },
    telemetry: { enabled: false },
    editorTheme: { projects: { enabled: false }, tours: false },
  };
  fs.writeFileSync(
    path.join(USER_DIR, "settings.js"),
    `module.exports = ${JSON.stringify(settings, null, 2)};\n`,
  );
}

function startNodeRed(): ChildProcess {
  const redJs = require.resolve("node-red/red.js");
  const child = spawn(
    process.execPath,
    [
      "--require",
      path.join(__dirname, "exit-with-parent.js"),
      redJs,
      "--userDir",
      USER_DIR,
      "--settings",
      path.join(USER_DIR, "settings.js"),
    ],
    // The IPC channel only tells Node-RED when this process is gone (exit-with-parent.ts).
    { stdio: ["ignore", "pipe", "pipe", "ipc"] },
  );
  for (const stream of [child.stdout, child.stderr]) {
    if (stream)
      readline.createInterface({ input: stream }).on("line", (line) => console.log(`[node-red] ${line}`));
  }
  return child;
}

/** Resolves once every pattern has appeared in Node-RED's output. */
function waitForLines(child: ChildProcess, patterns: RegExp[]): Promise<void> {
  const pending = new Set(patterns);
  return new Promise((resolve, reject) => {
    const onExit = () => reject(new Error("Node-RED exited before it was ready"));
    child.once("exit", onExit);
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      readline.createInterface({ input: stream }).on("line", (line) => {
        for (const pattern of pending) if (pattern.test(line)) pending.delete(pattern);
        if (pending.size === 0) {
          child.off("exit", onExit);
          resolve();
        }
      });
    }
  });
}

async function deploy(flows: object[], credentials: Record<string, string>): Promise<void> {
  const withCredentials = flows.map((node) =>
    (node as { type?: string }).type === "clarus-connection" ? { ...node, credentials } : node,
  );
  const response = await fetch(`http://127.0.0.1:${PORT}/flows`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "Node-RED-Deployment-Type": "full",
      "Node-RED-API-Version": "v2",
    },
    body: JSON.stringify({ flows: withCredentials }),
  });
  if (!response.ok)
    throw new Error(`deploying the demo flow failed: HTTP ${response.status} ${await response.text()}`);
}

main().catch((error: unknown) => {
  // A start-up step cut short by Ctrl-C is not a failure: the stop in progress exits 0.
  if (stopping) return;
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
