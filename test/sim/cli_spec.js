const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const path = require("node:path");

const { startReceiver } = require("./helpers");

const CLI = path.join(__dirname, "..", "..", "build", "dev", "sim", "cli.js");

/** Resolves with the child's stdout once `pattern` appears in it. */
function waitForOutput(child, pattern) {
  return new Promise((resolve, reject) => {
    let out = "";
    const onData = (chunk) => {
      out += chunk;
      if (pattern.test(out)) {
        child.stdout.off("data", onData);
        resolve(out);
      }
    };
    child.stdout.on("data", onData);
    child.once("exit", (code) => reject(new Error(`cli exited ${code} before printing ${pattern}: ${out}`)));
  });
}

describe("clarus simulator: CLI", function () {
  let receiver;

  before(async function () {
    receiver = await startReceiver();
  });

  after(() => receiver.close());

  it("should print the API URL and credentials, serve tokens, deliver webhooks and stop on SIGTERM", async function () {
    const child = spawn(
      process.execPath,
      [
        CLI,
        "--port",
        "0",
        "--webhook-url",
        receiver.url,
        "--events",
        "stock.positively_adjusted",
        "--interval",
        "20",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    try {
      const out = await waitForOutput(child, /deliver #\d+/);
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)[1];
      const clientId = /Client ID:\s+(\S+)/.exec(out)[1];
      const clientSecret = /Client secret:\s+(\S+)/.exec(out)[1];
      const res = await fetch(`${url}/oauth/token`, {
        method: "POST",
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: clientId,
          client_secret: clientSecret,
        }),
      });
      assert.equal(res.status, 200);
      assert.ok(receiver.requests.length > 0);
      assert.equal(receiver.requests[0].headers["x-claruswms-api-domain"], url);
    } finally {
      child.kill("SIGTERM");
    }
    assert.deepEqual(await exited, { code: 0, signal: null });
  });

  it("should exit 2 with the usage on a bad option", async function () {
    const child = spawn(process.execPath, [CLI, "--drop", "2"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (c) => (err += c));
    const code = await new Promise((resolve) => child.once("exit", resolve));
    assert.equal(code, 2);
    assert.match(err, /dropRate/);
    assert.match(err, /Usage:/);
  });
});
