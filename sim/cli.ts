#!/usr/bin/env node
/**
 * Runs the Clarus simulator from a shell, for trying the nodes without a tenant (`npm run sim`: the defaults,
 * and what to type into the connection dialog) and for poking at a flow by hand:
 *   node build/dev/sim/cli.js --port 4000 --webhook-url http://127.0.0.1:1880/clarus/events/TOKEN --rate 2 --drop 0.1
 */
import { parseArgs } from "node:util";

import { ALL_SIM_EVENTS } from "./constants";
import { isSchemaDialect, SCHEMA_DIALECTS } from "./dialects";
import { type Simulator, startSimulator } from "./index";
import type { SimulatorOptions } from "./simulator";
import type { WebhookMethod } from "./types";

const USAGE = `Usage: node build/dev/sim/cli.js [options]

  --port N             API port on 127.0.0.1 (default 4000; 0 = any free port)
  --subdomain S        tenant subdomain (default acme)
  --domain URL         X-ClarusWMS-Domain (default https://<subdomain>.claruswms.co.uk)
  --api-domain URL     X-ClarusWMS-API-Domain (default: the simulator's URL)
  --client-id ID       OAuth client id (default sim-client)
  --client-secret S    OAuth client secret (default sim-secret)
  --static-token T     also accept this bearer token
  --token-ttl SEC      token lifetime (default 3600)
  --seed N             PRNG seed (default 42)
  --schema DIALECT     GraphQL schema: documented, rich (default) or scalar
  --webhook-url URL    create automations that deliver to URL (repeatable)
  --events LIST        comma list of events for those automations (default: all six)
  --method POST|GET    webhook method (default POST)
  --integration-id N   send X-ClarusWMS-Integration-ID
  --rate N             deliveries per second (default unlimited)
  --drop SHARE         share of deliveries dropped (0..1)
  --repeat SHARE       share of deliveries sent twice (0..1)
  --delay MS|MIN-MAX   delay before each delivery
  --envelope           wrap bodies as {"data": {...}}
  --interval MS        one activity every MS milliseconds (default 2000; 0 = none)
  --node-red URL       where Node-RED listens, shown as the Public URL to type (default http://127.0.0.1:1880)
  --quiet              do not log events and deliveries
  --help               show this text`;

interface CliConfig {
  options: SimulatorOptions;
  port: number;
  webhookUrls: string[];
  events: string[];
  method: WebhookMethod;
  integrationId: number | null;
  intervalMs: number;
  nodeRedUrl: string;
  quiet: boolean;
}

function parse(argv: string[]): CliConfig | "help" {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: "string" },
      subdomain: { type: "string" },
      domain: { type: "string" },
      "api-domain": { type: "string" },
      "client-id": { type: "string" },
      "client-secret": { type: "string" },
      "static-token": { type: "string" },
      "token-ttl": { type: "string" },
      seed: { type: "string" },
      schema: { type: "string" },
      "webhook-url": { type: "string", multiple: true },
      events: { type: "string" },
      method: { type: "string" },
      "integration-id": { type: "string" },
      rate: { type: "string" },
      drop: { type: "string" },
      repeat: { type: "string" },
      delay: { type: "string" },
      envelope: { type: "boolean" },
      interval: { type: "string" },
      "node-red": { type: "string" },
      quiet: { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.help) return "help";
  const schema = values.schema ?? "rich";
  if (!isSchemaDialect(schema)) throw new Error(`--schema must be one of ${SCHEMA_DIALECTS.join(", ")}`);
  const method = (values.method ?? "POST").toUpperCase();
  if (method !== "POST" && method !== "GET") throw new Error("--method must be POST or GET");
  const events = values.events
    ? values.events
        .split(",")
        .map((e) => e.trim())
        .filter(Boolean)
    : [...ALL_SIM_EVENTS];
  return {
    port: num("--port", values.port, 4000),
    webhookUrls: values["webhook-url"] ?? [],
    events,
    method,
    integrationId:
      values["integration-id"] === undefined ? null : num("--integration-id", values["integration-id"], 0),
    intervalMs: num("--interval", values.interval, 2000),
    nodeRedUrl: values["node-red"] ?? "http://127.0.0.1:1880",
    quiet: values.quiet ?? false,
    options: {
      subdomain: values.subdomain,
      domain: values.domain,
      apiDomain: values["api-domain"],
      clientId: values["client-id"],
      clientSecret: values["client-secret"],
      staticToken: values["static-token"],
      tokenTtlSeconds: optionalNum("--token-ttl", values["token-ttl"]),
      seed: optionalNum("--seed", values.seed),
      schema,
      webhook: {
        ratePerSecond: optionalNum("--rate", values.rate),
        dropRate: optionalNum("--drop", values.drop),
        repeatRate: optionalNum("--repeat", values.repeat),
        delayMs: delay(values.delay),
        envelope: values.envelope ?? false,
      },
    },
  };
}

function optionalNum(name: string, raw: string | undefined): number | undefined {
  return raw === undefined ? undefined : num(name, raw, 0);
}

function num(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value)) throw new Error(`${name} must be a number, got "${raw}"`);
  return value;
}

function delay(raw: string | undefined): number | [number, number] | undefined {
  if (raw === undefined) return undefined;
  const range = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(raw.trim());
  if (range) return [Number(range[1]), Number(range[2])];
  return num("--delay", raw, 0);
}

async function main(): Promise<void> {
  let config: CliConfig | "help";
  let sim: Simulator;
  try {
    config = parse(process.argv.slice(2));
    if (config === "help") {
      console.log(USAGE);
      return;
    }
    sim = await startSimulator({ ...config.options, port: config.port });
  } catch (err) {
    console.error(`clarus-sim: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const cfg = config;
  try {
    for (const url of cfg.webhookUrls) {
      for (const event of cfg.events) {
        sim.addAutomation({ event, url, method: cfg.method, integrationId: cfg.integrationId });
      }
    }
  } catch (err) {
    console.error(`clarus-sim: ${err instanceof Error ? err.message : String(err)}`);
    await sim.stop();
    process.exitCode = 2;
    return;
  }

  console.log(`Clarus simulator listening on ${sim.url}`);
  console.log(`  GraphQL:        ${sim.graphqlUrl}  (header X-Clarus-Subdomain: ${sim.subdomain})`);
  console.log(`  OAuth token:    ${sim.tokenUrl}  (grant_type=client_credentials)`);
  console.log(`  Client ID:      ${sim.clientId}`);
  console.log(`  Client secret:  ${sim.clientSecret}`);
  console.log(`  Login domain:   ${sim.domain}`);
  console.log(`  Schema:         ${sim.schema}`);
  // What a user without a tenant types into the clarus-connection dialog, word for word (README: Try it on the
  // simulator). The Webhook token is theirs to generate; the webhook node registers its automations here.
  console.log(`
  In Node-RED, add a clarus-connection (the + beside Connection in a Clarus node) and type:
    Subdomain       ${sim.subdomain}
    Login URL       ${sim.domain}
    API URL         ${sim.url}
    Client ID       ${sim.clientId}
    Client secret   ${sim.clientSecret}
    Public URL      ${cfg.nodeRedUrl}
    Webhook token   press Generate
  Then choose events under Register in a webhook in node and deploy. Ctrl-C stops the simulator.
`);
  for (const a of sim.store.automations.all()) {
    for (const target of sim.webhookTargets(a.id)) {
      console.log(`  Automation ${a.id}: ${a.resource_name}.${a.event} -> ${target.method} ${target.url}`);
    }
  }
  if (!cfg.quiet) {
    sim.on("event", (e) => console.log(`event #${e.id} ${e.event} record ${e.recordId}`));
    sim.on("delivered", (d) =>
      console.log(
        `  deliver #${d.eventId} automation ${d.automationId}${d.repeated ? " (repeat)" : ""}: ${d.status ?? d.error}`,
      ),
    );
    sim.on("dropped", (d) => console.log(`  drop    #${d.eventId} automation ${d.automationId}`));
  }
  if (cfg.intervalMs > 0) sim.startActivity({ intervalMs: cfg.intervalMs });

  const shutdown = (signal: string): void => {
    console.log(`\n${signal}: stopping`);
    sim.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", () => shutdown("SIGINT"));
  process.once("SIGTERM", () => shutdown("SIGTERM"));
}

void main();
