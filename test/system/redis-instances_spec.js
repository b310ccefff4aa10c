// Three real Node-RED processes, installed from the packed tarball, running the same flow on one real
// redis-server behind a round-robin "load balancer" (this test), as copies of one project behind nginx or a
// Kubernetes service. The flow: clarus-webhook-in and a clarus-poll → delay (the flow's
// work) → a function writing "<source> <dedupe key> <attempt>" → the core `file` node appending it to
// events.txt in the instance's own directory (the durable effect, counted per instance) → clarus-confirm, on a
// connection with `store: redis` and `delivery: on-confirm`.
//
// 1. 3,000 deliveries with 10% repeats, round-robin: each event reaches exactly one flow exactly once.
// 2. The instance holding the poll's lease is killed with SIGKILL in the middle of traffic: another instance
//    takes the poll over within two lease periods (the handover time is measured), the load balancer sends
//    what the dead one refuses to the others, and they send its unconfirmed events again after
//    `redeliverSeconds`: nothing acknowledged is lost.
// 3. Redis restarts in the middle of traffic: 503s, then recovery by itself, nothing acknowledged lost.
// Throughout, each poll ran on one instance at a time (the runs' start and end lines never overlap).
// The counts are printed after the suite.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

const { TOKEN, webhookConfig, delayNode } = require("../helpers/fixtures");
const { eventually } = require("../helpers/eventually");
const { RedInstances } = require("../helpers/red-instances");
const { RedisServer } = require("../helpers/redis-server");
const { startSimulator, simHeaders } = require("../helpers/clarus-sim");

const PASSWORD = "instances-pa55word";
const INSTANCES = 3;
const LEASE_SECONDS = 2;
const REDELIVER_SECONDS = 2;
const POLL_INTERVAL_MINUTES = 0.05; // 3 s
const AUTOMATION_ID = "43";
/** Webhook ids start here, away from the simulator's record ids. */
const FIRST_ID = 1_000_000;
const TAB = "shared";

/** Every figure the scenarios measured, printed after the suite. */
const figures = [];

function sharedFlow(sim, redisUrl) {
  const node = (id, type, x, props) => ({ id, type, z: TAB, x, y: 80, ...props });
  return [
    { id: TAB, type: "tab", label: "shared" },
    {
      id: "conn",
      type: "clarus-connection",
      name: "acme",
      subdomain: sim.subdomain,
      domain: sim.domain,
      apiUrl: sim.url,
      automations: [{ id: AUTOMATION_ID, event: "goods_out.completed" }],
      dedupeHours: 72,
      delivery: "on-confirm",
      redeliverSeconds: REDELIVER_SECONDS,
      maxAttempts: 10,
      store: "redis",
      credentials: { webhookToken: TOKEN, clientId: sim.clientId, clientSecret: sim.clientSecret, redisUrl },
    },
    webhookConfig({ z: TAB, x: 140, y: 80, wires: [["work"]] }),
    node("poll", "clarus-poll", 140, {
      y: 160,
      connection: "conn",
      stream: "stock.transactions",
      intervalMinutes: POLL_INTERVAL_MINUTES,
      lookbackMinutes: 10,
      pageSize: 100,
      maxPages: 10,
      runOnStart: true,
      wires: [["work"]],
    }),
    delayNode("work", {
      z: TAB,
      x: 320,
      y: 80,
      name: "the flow's work",
      timeout: 200,
      timeoutUnits: "milliseconds",
      wires: [["mark"]],
    }),
    node("mark", "function", 480, {
      name: "source key attempt",
      func: 'msg.payload = msg.clarus.source + " " + msg.clarus.dedupeKey + " " + (msg.clarus.attempt || 1);\nreturn msg;',
      outputs: 1,
      wires: [["append"]],
    }),
    // A relative file name: each instance writes into its own directory (Node-RED's working directory).
    node("append", "file", 640, {
      name: "append",
      filename: "events.txt",
      filenameType: "str",
      appendNewline: true,
      createDir: true,
      overwriteFile: "false",
      encoding: "none",
      wires: [["confirmer"]],
    }),
    node("confirmer", "clarus-confirm", 800, { name: "", action: "confirm", retrySeconds: 60, wires: [[]] }),
  ];
}

/** What instance `index` wrote: `{ source, key, attempt }` a line. */
function linesOf(group, index) {
  const file = path.join(group.userDirs[index], "events.txt");
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [source, key, attempt] = line.split(" ");
      return { source, key, attempt: Number(attempt) };
    });
}

/** Every instance's lines, with the instance; keys counted over all of them. */
function tally(group) {
  const lines = group.userDirs.flatMap((_dir, index) => linesOf(group, index).map((l) => ({ ...l, index })));
  const counts = new Map();
  for (const line of lines) counts.set(line.key, (counts.get(line.key) ?? 0) + 1);
  const perInstance = group.userDirs.map((_dir, index) => lines.filter((l) => l.index === index).length);
  return { lines, counts, perInstance };
}

const webhookKey = (id) => `goods_out.completed:${id}`;

/**
 * The load balancer and Clarus's retries in one: delivery `n` goes to instance `n % 3`; a refused connection
 * (a dead instance) or a 503 goes to the next instance, after a short pause for a 503, until one answers 200.
 */
class Balancer {
  constructor(group, sim) {
    this.group = group;
    this.sim = sim;
    this.agents = new Map();
    this.counts = { sent: 0, accepted: 0, duplicates: 0, unavailable: 0, refused: 0 };
  }

  agentFor(red) {
    if (!this.agents.has(red)) this.agents.set(red, new http.Agent({ keepAlive: true, maxSockets: 16 }));
    return this.agents.get(red);
  }

  post(red, id) {
    const body = JSON.stringify({
      id,
      reference: `SO-${id}`,
      goods_out_type: "sales_order",
      goods_out_status_id: 6,
      actual_date_of_dispatch: "2026-11-27T10:00:00Z",
    });
    return new Promise((resolve) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port: red.port,
          method: "POST",
          path: `/clarus/events/${TOKEN}`,
          agent: this.agentFor(red),
          headers: { ...simHeaders(this.sim, AUTOMATION_ID), "Content-Length": Buffer.byteLength(body) },
          timeout: 15_000,
        },
        (res) => {
          const chunks = [];
          res.on("data", (chunk) => chunks.push(chunk));
          res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
          res.on("error", (error) => resolve({ error }));
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (error) => resolve({ error }));
      req.end(body);
    });
  }

  /** Delivers `id` (the `n`th delivery) until an instance answers 200; resolves with that answer's text. */
  async deliver(n, id) {
    this.counts.sent++;
    for (let attempt = 0; attempt < 2000; attempt++) {
      const red = this.group.instances[(n + attempt) % this.group.instances.length];
      if (!red.running) continue;
      const answer = await this.post(red, id);
      if (answer.status === 200) {
        if (JSON.parse(answer.text).duplicate) this.counts.duplicates++;
        else this.counts.accepted++;
        return answer.text;
      }
      if (answer.status === 503) {
        this.counts.unavailable++;
        await new Promise((resolve) => setTimeout(resolve, 25));
      } else if (answer.error) {
        this.counts.refused++;
      } else {
        throw new Error(`delivery ${id} answered ${answer.status}: ${answer.text}`);
      }
    }
    throw new Error(`delivery ${id} was never taken`);
  }

  /** Sends `ids` with `concurrency` in flight; `onAnswered(count)` after each 200. */
  async run(ids, { concurrency = 24, onAnswered = () => {} } = {}) {
    let next = 0;
    let answered = 0;
    const worker = async () => {
      while (next < ids.length) {
        const n = next++;
        await this.deliver(n, ids[n]);
        await onAnswered(++answered);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  close() {
    for (const agent of this.agents.values()) agent.destroy();
  }
}

const RUN_LINE = / stock\.transactions run (started|ended) at (\S+?):?(?:$|\s)/;

/** Whether `red`'s last poll run line says a run started and has not ended. */
function runningPoll(red) {
  for (let index = red.lines.length - 1; index >= 0; index--) {
    const match = RUN_LINE.exec(red.lines[index]);
    if (match) return match[1] === "started";
  }
  return false;
}

/** The poll's runs from every process's log: `{ index, start, end }` (ms); a run cut by a kill ends then. */
function pollRuns(processes) {
  const runs = [];
  for (const { red, index, killedAt } of processes) {
    let open;
    for (const line of red.lines) {
      const match = RUN_LINE.exec(line);
      if (!match) continue;
      const at = Date.parse(match[2]);
      if (match[1] === "started") {
        open = { index, start: at };
      } else if (open) {
        runs.push({ ...open, end: at });
        open = undefined;
      }
    }
    if (open) runs.push({ ...open, end: killedAt ?? Infinity, killed: killedAt !== undefined });
  }
  return runs.sort((a, b) => a.start - b.start);
}

describe("three Node-RED instances on one Redis (the packed package)", function () {
  // A pack and an npm install first (well under a minute here, more under load).
  this.timeout(240_000);
  let redis;
  let sim;
  let balancer;
  const group = new RedInstances();
  /** Every Node-RED process that ran, with its index and, for the killed one, when it was killed. */
  const processes = [];
  const connected = /\[clarus-connection:acme\] connected to Redis at redis:\/\/127\.0\.0\.1:\d+\/0$/;

  before(async function () {
    // appendfsync always: the Redis restart below keeps every acknowledged write, as the README asks of
    // a Redis that holds on-confirm's inbox.
    redis = await new RedisServer({
      password: PASSWORD,
      args: ["--appendonly", "yes", "--appendfsync", "always"],
    }).start();
    // No webhooks from the simulator: what the poll finds, it finds in the API.
    sim = await startSimulator({ history: 0, seed: 11, webhook: { dropRate: 1 } });
    await group.start({
      count: INSTANCES,
      logLevel: "debug",
      settings: {
        clarus: {
          redis: { leaseSeconds: LEASE_SECONDS },
          timeoutMs: 4000,
          retry: { baseDelayMs: 50, maxDelayMs: 500, maxRetryAfterMs: 500, maxAttempts: 4 },
        },
      },
    });
    group.instances.forEach((red, index) => processes.push({ red, index }));
    await group.deployAll(sharedFlow(sim, redis.url()));
    balancer = new Balancer(group, sim);
  });

  after(async function () {
    balancer?.close();
    await group.dispose();
    await redis?.dispose();
    await sim?.stop();
    if (figures.length > 0) {
      console.log("\n  several instances on one Redis:");
      for (const figure of figures) console.log(`  ${figure}`);
    }
  });

  it("should connect every instance to the shared Redis (append-only), without logging the password", async function () {
    for (const red of group.instances) await red.waitForLine(connected);
    const raw = await redis.inspector();
    assert.equal(await redis.clientsNamed(), INSTANCES);
    assert.deepEqual(await raw.configGet("appendonly"), { appendonly: "yes" });
    for (const red of group.instances) {
      assert.ok(!red.lines.some((line) => line.includes(PASSWORD)), "the Redis password was logged");
    }
  });

  it("should deliver 3,000 deliveries with 10% repeats, round-robin, to exactly one flow exactly once", async function () {
    // Records only the API has: whichever instance polls finds them, once.
    sim.generate(12, ["stock.placed_on_hold", "stock.positively_adjusted"]);
    const polled = [...sim.events];
    const ids = [];
    for (let n = 0; n < 3000; n++) {
      // Every tenth is a repeat of the delivery five before it, which went to another instance.
      ids.push(n % 10 === 9 ? ids[n - 5] : FIRST_ID + n);
    }
    const unique = [...new Set(ids)];
    const before = { ...balancer.counts };
    await balancer.run(ids);
    const accepted = balancer.counts.accepted - before.accepted;
    const duplicates = balancer.counts.duplicates - before.duplicates;
    assert.equal(accepted, unique.length, "each event accepted once");
    assert.equal(duplicates, ids.length - unique.length, "each repeat answered as a duplicate");

    const expected = [...unique.map(webhookKey), ...polled.map((e) => `${e.event}:${e.recordId}`)];
    await eventually(() => expected.every((key) => tally(group).counts.has(key)), {
      timeoutMs: 60_000,
      everyMs: 200,
      what: "every event in a flow",
    });
    const { counts, perInstance, lines } = tally(group);
    const doubled = [...counts].filter(([, n]) => n > 1).map(([key]) => key);
    assert.deepEqual(doubled, [], "events that reached a flow twice");
    assert.equal(counts.size, expected.length, "events no one sent");
    for (const [index, count] of perInstance.entries())
      assert.ok(count > 0, `instance ${index} emitted none`);
    const polledBy = new Set(lines.filter((l) => l.source === "poll").map((l) => l.index));
    figures.push(
      `3,000 deliveries (10% repeats) round-robin over 3 instances: sent ${ids.length}, accepted ${accepted}, ` +
        `duplicates ${duplicates}, emitted per instance ${perInstance.join(" / ")} ` +
        `(webhook ${unique.length} + polled ${polled.length}, polled on instance(s) ${[...polledBy].join(", ")}), ` +
        `doubled 0, lost 0`,
    );
    await eventually(async () => (await (await redis.inspector()).hLen("clarus:acme:inbox:entries")) === 0, {
      timeoutMs: 30_000,
      what: "every event confirmed",
    });
  });

  it("should hand the poll over within two lease periods and lose nothing acknowledged when an instance is killed", async function () {
    // The API holds every poll request: a run keeps its lease until the instance running it dies.
    sim.setFaults({ hang: true });
    const since = group.instances.map((red) => red.lines.length);
    await Promise.race(
      group.instances.map((red, index) =>
        red.waitForLine(/ stock\.transactions run started at /, { since: since[index], timeoutMs: 30_000 }),
      ),
    );
    const ids = Array.from({ length: 1500 }, (_, n) => FIRST_ID + 10_000 + n);
    let holder;
    let killedAt;
    let killing;
    let marks;
    const before = { ...balancer.counts };
    await balancer.run(ids, {
      onAnswered: (answered) => {
        // In the middle of the traffic, the instance whose poll run holds the lease now.
        if (answered < 500 || killing) return killing;
        holder = group.instances.findIndex((red) => runningPoll(red));
        if (holder < 0) return undefined;
        marks = group.instances.map((red) => red.lines.length);
        killedAt = Date.now();
        killing = group.instances[holder].kill();
        return killing;
      },
    });
    assert.ok(killing, "no poll run was in progress to kill");
    processes.find((p) => p.red === group.instances[holder]).killedAt = killedAt;

    // Another instance runs the poll once the dead one's lease expired.
    const started = / stock\.transactions run started at (\S+)$/;
    const takeover = await Promise.race(
      group.instances
        .map((red, index) => ({ red, index }))
        .filter(({ index }) => index !== holder)
        .map(({ red, index }) =>
          red.waitForLine(started, { since: marks[index], timeoutMs: 30_000 }).then(({ line }) => ({
            index,
            at: Date.parse(started.exec(line)[1]),
          })),
        ),
    );
    const handover = takeover.at - killedAt;
    sim.clearFaults();
    assert.ok(handover < 2 * LEASE_SECONDS * 1000, `handed over ${handover} ms after the kill`);

    // Its unconfirmed events are sent again by the others after redeliverSeconds.
    await eventually(() => ids.every((id) => tally(group).counts.has(webhookKey(id))), {
      timeoutMs: 60_000,
      everyMs: 200,
      what: "every acknowledged event in a flow",
    });
    const { counts, lines, perInstance } = tally(group);
    const lost = ids.filter((id) => !counts.has(webhookKey(id)));
    const doubled = ids.filter((id) => counts.get(webhookKey(id)) > 1);
    const keys = new Set(ids.map(webhookKey));
    const redelivered = lines.filter((l) => keys.has(l.key) && l.attempt > 1);
    assert.deepEqual(lost, [], "acknowledged and lost");
    assert.ok(redelivered.length > 0, "the kill left no event pending: the scenario did not hold");
    assert.ok(
      redelivered.every((l) => l.index !== holder),
      "events sent again by the instances still running",
    );
    assert.ok(
      doubled.length <= redelivered.length,
      `${doubled.length} doubled, ${redelivered.length} resent`,
    );
    const accepted = balancer.counts.accepted - before.accepted;
    const duplicates = balancer.counts.duplicates - before.duplicates;
    figures.push(
      `SIGKILL of the poll's lease holder (instance ${holder}) after 500 of 1,500 deliveries: ` +
        `accepted ${accepted}, duplicates ${duplicates} (retries of what it took before dying), refused ` +
        `${balancer.counts.refused - before.refused} connections (sent on to the others), lost ${lost.length}, ` +
        `sent again by the others after redeliverSeconds ${redelivered.length}, doubled ${doubled.length}, ` +
        `emitted per instance now ${perInstance.join(" / ")}`,
    );
    figures.push(
      `poll lease handover: ${handover} ms from SIGKILL to the next run, on instance ${takeover.index} ` +
        `(lease ${LEASE_SECONDS} s: ${(handover / (LEASE_SECONDS * 1000)).toFixed(2)} lease periods)`,
    );

    // The killed instance comes back with its flows, as an orchestrator would restart it.
    const restarted = await group.restart(holder);
    processes.push({ red: restarted, index: holder });
    await restarted.waitForLine(connected);
  });

  it("should answer 503 while Redis restarts under traffic, recover by itself and lose nothing", async function () {
    const ids = Array.from({ length: 1200 }, (_, n) => FIRST_ID + 20_000 + n);
    const marks = group.instances.map((red) => red.lines.length);
    const before = { ...balancer.counts };
    let restarting;
    await balancer.run(ids, {
      onAnswered: (answered) => {
        if (answered === 300) restarting = redis.restart();
      },
    });
    await restarting;
    const unavailable = balancer.counts.unavailable - before.unavailable;
    assert.ok(unavailable > 0, "no 503 while Redis restarted");
    for (const [index, red] of group.instances.entries()) {
      await red.waitForLine(/\[warn\] \[clarus-connection:acme\] Redis at .* unavailable: /, {
        since: marks[index],
      });
      await red.waitForLine(/\[clarus-connection:acme\] Redis at .* is back after \d+\.\d s$/, {
        since: marks[index],
        timeoutMs: 30_000,
      });
      const warnings = red.lines
        .slice(marks[index])
        .filter((line) => /\[warn\] \[clarus-connection:acme\] Redis at/.test(line));
      // Each cause is said once (a restart may show a lost connection, refusals, then Redis loading its data).
      const causes = warnings.map((line) =>
        line.replace(/^.* unavailable(, now)?: /, "").replace(/; retrying.*$/, ""),
      );
      assert.equal(
        new Set(causes).size,
        causes.length,
        `instance ${index} warned ${warnings.length} times:\n${warnings.join("\n")}`,
      );
      assert.ok(red.running, `instance ${index} is still running`);
    }
    await eventually(() => ids.every((id) => tally(group).counts.has(webhookKey(id))), {
      timeoutMs: 60_000,
      everyMs: 200,
      what: "every acknowledged event in a flow",
    });
    const { counts, lines } = tally(group);
    const keys = new Set(ids.map(webhookKey));
    const lost = ids.filter((id) => !counts.has(webhookKey(id)));
    const doubled = ids.filter((id) => counts.get(webhookKey(id)) > 1);
    const redelivered = lines.filter((l) => keys.has(l.key) && l.attempt > 1).length;
    assert.deepEqual(lost, [], "acknowledged and lost");
    // A confirm refused while Redis was away leaves its event pending: sent again, never lost.
    assert.ok(doubled.length <= redelivered, `${doubled.length} doubled, ${redelivered} resent`);
    assert.equal(await redis.clientsNamed(), INSTANCES, "every instance reconnected");
    figures.push(
      `Redis restarted after 300 of 1,200 deliveries: ${unavailable} answers 503 (retried), accepted ` +
        `${balancer.counts.accepted - before.accepted}, duplicates ${balancer.counts.duplicates - before.duplicates}, ` +
        `lost ${lost.length}, sent again ${redelivered}, doubled ${doubled.length}`,
    );
  });

  it("should have run the poll on one instance at a time throughout", async function () {
    const runs = pollRuns(processes);
    assert.ok(runs.length >= 3, `${runs.length} poll runs`);
    for (let i = 1; i < runs.length; i++) {
      const [previous, run] = [runs[i - 1], runs[i]];
      assert.ok(
        run.start >= previous.end,
        `run on instance ${run.index} started ${previous.end - run.start} ms before the run on ` +
          `instance ${previous.index} ended`,
      );
    }
    const byInstance = group.userDirs.map((_dir, index) => runs.filter((run) => run.index === index).length);
    const span = (Math.min(runs.at(-1).end, Date.now()) - runs[0].start) / 1000;
    figures.push(
      `poll runs: ${runs.length} in ${span.toFixed(0)} s with a ${POLL_INTERVAL_MINUTES * 60} s interval, ` +
        `per instance ${byInstance.join(" / ")}, overlapping 0`,
    );
  });
});
