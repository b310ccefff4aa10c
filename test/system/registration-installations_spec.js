// Two Node-RED installations (two real red.js processes, each with its own user directory and public URL) on one
// Clarus tenant, deploying the same flow, as staging beside production does: the node ids are the same, yet each
// installation registers, changes and deletes only its own automations, and says so when it meets the other's.
const assert = require("node:assert/strict");
const path = require("node:path");

const { startSimulator } = require("../../build/dev/sim/index.js");
const {
  deployFlows,
  freePort,
  linkPackage,
  makeTempDir,
  removeDir,
  startNodeRed,
  writeSettings,
} = require("../helpers/red-process");
const { TOKEN, connectionConfig, webhookConfig } = require("../helpers/fixtures");

const EVENTS = ["goods_out.completed", "goods_in.completed", "stock.placed_on_hold"];
/** The node's log line once a registration run has finished, whatever its outcome. */
const REGISTERED = (name) =>
  new RegExp(`\\[clarus-webhook-in:${name}\\] (registered with Clarus|registration with Clarus failed)`);
const ANOTHER_INSTALLATION = /another Node-RED installation/;

describe("webhook registration: two Node-RED installations on one tenant", function () {
  this.timeout(120_000);

  let tmp;
  let sim;
  /** Production and staging: each its own user directory, port and so public URL. */
  const installations = { production: {}, staging: {} };

  function flow(installation, { hooks = [{ id: "hook", path: "/clarus/events", register: EVENTS }] } = {}) {
    const connection = connectionConfig({
      name: "sim",
      subdomain: sim.subdomain,
      domain: sim.domain,
      apiUrl: sim.url,
      publicUrl: installation.publicUrl,
      automations: [],
      credentials: { clientId: sim.clientId, clientSecret: sim.clientSecret, webhookToken: TOKEN },
    });
    const nodes = hooks.map((hook, i) =>
      webhookConfig({ z: "tab", name: hook.id, x: 150, y: 80 + 60 * i, wires: [[]], ...hook }),
    );
    return [{ id: "tab", type: "tab", label: "registration" }, connection, ...nodes];
  }

  /** Deploys and resolves with the finished registration's log line of node `name`. */
  async function deployAndRegister(installation, options, name = "hook") {
    const since = installation.red.lines.length;
    await deployFlows(installation.red, flow(installation, options));
    return (await installation.red.waitForLine(REGISTERED(name), { since })).line;
  }

  /** The automations named for `nodeId`: id, name, and the installation their webhook posts to. */
  function automationsOf(nodeId = "hook") {
    return sim.store.automations
      .all()
      .filter((a) => a.name.startsWith(`node-red-clarus ${nodeId} `))
      .map((a) => ({ id: a.id, name: a.name, enabled: a.enabled, to: postsTo(a) }))
      .sort((a, b) => a.id - b.id);
  }

  function postsTo(automation) {
    const action = automation.actions.find((act) => act.destination_type === "webhook");
    const url = action?.parameters.find((p) => p.parameter_code === "webhook_url")?.value ?? "";
    const [which] = Object.entries(installations).find(([, i]) => url.startsWith(`${i.publicUrl}/`)) ?? [];
    return which ?? url;
  }

  function warnings(installation, since = 0) {
    return installation.red.lines.slice(since).filter((line) => /\[warn\]/.test(line));
  }

  before(async function () {
    tmp = makeTempDir("clarus-installations-");
    sim = await startSimulator({ history: 0, seed: 17 });
    for (const [name, installation] of Object.entries(installations)) {
      installation.userDir = path.join(tmp, name);
      linkPackage(installation.userDir, { name: `clarus-${name}` });
      installation.port = await freePort();
      installation.publicUrl = `http://127.0.0.1:${installation.port}`;
      writeSettings({ userDir: installation.userDir, port: installation.port });
      installation.red = await startNodeRed({ userDir: installation.userDir, port: installation.port });
    }
  });

  after(async function () {
    for (const installation of Object.values(installations)) await installation.red?.kill();
    if (sim) await sim.stop();
    removeDir(tmp);
  });

  it("should give each installation its own automations, and leave the other's alone on every deploy", async function () {
    const { production, staging } = installations;
    await deployAndRegister(production);
    const productions = automationsOf();
    assert.deepEqual(
      productions.map((a) => a.to),
      ["production", "production", "production"],
    );

    const since = staging.red.lines.length;
    await deployAndRegister(staging);
    for (let round = 0; round < 2; round++) {
      await deployAndRegister(production);
      await deployAndRegister(staging);
    }
    const all = automationsOf();
    assert.equal(all.length, 2 * EVENTS.length, JSON.stringify(all));
    // Production's automations are the same ones, untouched by staging's deploys, and still post to production.
    assert.deepEqual(
      all.filter((a) => a.to === "production"),
      productions,
    );
    assert.deepEqual(
      all.filter((a) => a.to === "staging").map((a) => a.enabled),
      [true, true, true],
    );
    // The names tell the installations apart; each event's two names differ only in the mark at the end.
    const names = new Set(all.map((a) => a.name));
    assert.equal(names.size, all.length);
    assert.ok(
      warnings(staging, since).some((line) => ANOTHER_INSTALLATION.test(line)),
      warnings(staging, since).join("\n"),
    );

    // Each event reaches both installations once.
    const before = sim.sent.length;
    for (const event of EVENTS) sim.generate(1, [event]);
    await sim.flush();
    const sent = sim.sent.slice(before);
    assert.deepEqual(
      sent.map((d) => d.status),
      new Array(2 * EVENTS.length).fill(200),
    );
    assert.equal(sent.filter((d) => d.url.startsWith(`${staging.publicUrl}/`)).length, EVENTS.length);
  });

  it("should delete only its own automations when the node is deleted in one installation", async function () {
    const { production, staging } = installations;
    const productions = automationsOf().filter((a) => a.to === "production");
    const since = staging.red.lines.length;
    await deployFlows(staging.red, flow(staging, { hooks: [] }));
    await staging.red.waitForLine(/deleted its Clarus automations/, { since });
    assert.deepEqual(automationsOf(), productions);
    // Production, redeployed, finds its own automations as they were.
    assert.match(await deployAndRegister(production), /goods_out\.completed exists/);
    assert.deepEqual(automationsOf(), productions);
  });

  it("should adopt an automation an earlier version named without the mark only where it posts", async function () {
    const { production, staging } = installations;
    const legacy = { id: "legacy", path: "/clarus/legacy", register: ["goods_out.completed"] };
    // What an earlier version of production registered: the name without an installation mark.
    const legacyName = "node-red-clarus legacy goods_out.completed";
    const id = sim.addAutomation({
      name: legacyName,
      event: "goods_out.completed",
      url: `${production.publicUrl}/clarus/legacy/${TOKEN}`,
    });

    const since = staging.red.lines.length;
    await deployAndRegister(staging, { hooks: [legacy] }, "legacy");
    const afterStaging = automationsOf("legacy");
    assert.deepEqual(
      afterStaging.map((a) => [a.id === id, a.to, a.name === legacyName]),
      [
        [true, "production", true],
        [false, "staging", false],
      ],
      "staging changed production's automation",
    );
    assert.ok(
      warnings(staging, since).some((line) => line.includes(`${id}`) && /left alone/.test(line)),
      warnings(staging, since).join("\n"),
    );

    const creates = sim.automationsApi.counts.create;
    const line = await deployAndRegister(production, { hooks: [legacy] }, "legacy");
    assert.match(line, new RegExp(`goods_out\\.completed updated \\(${id}`));
    const adopted = automationsOf("legacy").find((a) => a.id === id);
    assert.equal(adopted.to, "production");
    assert.notEqual(adopted.name, legacyName, "production did not put its mark on its own automation");
    assert.equal(sim.automationsApi.counts.create, creates, "production made a new one beside its own");
    // Staging, redeployed, keeps its own and leaves production's (now marked) alone.
    await deployAndRegister(staging, { hooks: [legacy] }, "legacy");
    assert.deepEqual(
      automationsOf("legacy").map((a) => a.to),
      ["production", "staging"],
    );
  });
});
