// What Clarus does to a Node-RED under test, and what the flow wrote: webhook deliveries over real HTTP (one,
// or bursts over kept-alive connections) and the output file of a flow that appends "<id> <attempt>" per event.
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

const { TOKEN, CLARUS_HEADERS, dispatched } = require("./fixtures");

/** A function node's body that makes each event the line "<id> <attempt>" that readOutput reads. */
const ID_AND_ATTEMPT = 'msg.payload = msg.payload.id + " " + (msg.clarus.attempt || 1);\nreturn msg;';

/**
 * The output file ("<id> <attempt>" a line) as `{ counts: Map<id, n>, attempts: Map<id, attempt[]>,
 * redelivered: number }`: how often each id came, with which attempts, and how many lines were resends.
 */
function readOutput(file) {
  const counts = new Map();
  const attempts = new Map();
  let redelivered = 0;
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const [id, attempt] = line.split(" ").map(Number);
    counts.set(id, (counts.get(id) ?? 0) + 1);
    attempts.set(id, [...(attempts.get(id) ?? []), attempt]);
    if (attempt > 1) redelivered++;
  }
  return { counts, attempts, redelivered };
}

/** Resolves once `done(readOutput(file))` holds, re-reading whenever the file's directory changes. */
function waitForOutput(file, done, { timeoutMs = 60_000, what = "the output" } = {}) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const output = readOutput(file);
      if (!done(output)) return false;
      finish();
      resolve(output);
      return true;
    };
    const watcher = fs.watch(path.dirname(file), () => check());
    const timer = setTimeout(() => {
      finish();
      const { counts } = readOutput(file);
      reject(new Error(`${what} not reached within ${timeoutMs} ms (${counts.size} ids in ${file})`));
    }, timeoutMs);
    function finish() {
      clearTimeout(timer);
      watcher.close();
    }
    check();
  });
}

/** Clarus: POST one delivery on a kept-alive connection of `agent`; resolves with { status, body } or { error }. */
function deliver(port, agent, id) {
  return deliverBody(port, agent, JSON.stringify(dispatched(id)));
}

/** Clarus: POST `body` (a string) as one delivery; see `deliver`. */
function deliverBody(port, agent, body) {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: `/clarus/events/${TOKEN}`,
        // No agent: a fresh connection, so a socket to a Node-RED killed since is never reused.
        agent: agent ?? false,
        headers: {
          ...CLARUS_HEADERS,
          "Content-Type": "application/json",
          "Content-Length": Buffer.byteLength(body),
        },
        timeout: 15_000,
      },
      (res) => {
        const chunks = [];
        res.on("data", (chunk) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", (error) => resolve({ error }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (error) => resolve({ error }));
    req.end(body);
  });
}

/**
 * Sends `ids` over `connections` kept-alive connections; `onAnswer(id, answer)` may return "stop". `body(id)`
 * is each delivery's JSON body (a dispatched sales order by default).
 */
async function burst(port, ids, connections, onAnswer = () => {}, body = dispatched) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const answers = new Map();
  let next = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped && next < ids.length) {
      const id = ids[next++];
      const answer = await deliverBody(port, agent, JSON.stringify(body(id)));
      answers.set(id, answer);
      if (onAnswer(id, answer) === "stop") stopped = true;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  agent.destroy();
  return answers;
}

const acknowledged = (answers) =>
  [...answers].filter(([, answer]) => answer.status === 200).map(([id]) => id);

module.exports = { ID_AND_ATTEMPT, readOutput, waitForOutput, deliver, deliverBody, burst, acknowledged };
