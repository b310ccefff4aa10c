// Shared set-up for specs that load our nodes into node-red-node-test-helper.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const helper = require("node-red-node-test-helper");

helper.init(require.resolve("node-red"));

const build = path.join(__dirname, "..", "..", "build", "nodes");
const connectionNode = require(path.join(build, "clarus-connection.js"));
const webhookNode = require(path.join(build, "clarus-webhook-in.js"));

/**
 * helper.request() reaches only the admin app, so the webhook node's initializer is wrapped to capture
 * the RED.httpNode app it registers on; supertest then reaches the webhook routes without a server.
 */
function capturingWebhookNode(onHttpNode) {
  return function (RED) {
    onHttpNode(RED.httpNode);
    return webhookNode(RED);
  };
}

const tempDirs = [];
// Removed when the test process ends, whatever the outcome.
process.on("exit", () => tempDirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

function tempUserDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clarus-test-"));
  tempDirs.push(dir);
  return dir;
}

const { TOKEN, CLARUS_HEADERS, connectionConfig, webhookConfig, dispatched } = require("./fixtures");

/** Collects what a helper node receives, so a test can await a count or check that nothing came. */
function collect(node) {
  const received = [];
  const waiters = [];
  node.on("input", (msg) => {
    received.push(msg);
    for (const waiter of waiters.splice(0)) waiter();
  });
  return {
    received,
    async waitFor(count) {
      while (received.length < count) await new Promise((resolve) => waiters.push(resolve));
      return received;
    },
  };
}

module.exports = {
  helper,
  connectionNode,
  webhookNode,
  capturingWebhookNode,
  tempUserDir,
  TOKEN,
  CLARUS_HEADERS,
  connectionConfig,
  webhookConfig,
  collect,
  dispatched,
};
