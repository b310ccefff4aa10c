// Two real Node-RED processes, installed from the packed tarball (so the Redis client is a real dependency of
// the package), with one flow whose connection has `store: redis`, on one password-protected redis-server.
// Redis is restarted under them: each says so once, and each is back by itself, without a redeploy.
const assert = require("node:assert/strict");

const { TOKEN, connectionConfig, webhookConfig } = require("./helpers/fixtures");
const { RedInstances } = require("./helpers/red-instances");
const { RedisServer } = require("./helpers/redis-server");

const PASSWORD = "instances-pa55word";
const INSTANCES = 2;

function sharedFlow(redisUrl) {
  return [
    { id: "tab", type: "tab", label: "shared" },
    connectionConfig({ store: "redis", credentials: { webhookToken: TOKEN, redisUrl } }),
    webhookConfig({ z: "tab", x: 150, y: 80, wires: [[]] }),
  ];
}

describe("several Node-RED instances on one Redis", function () {
  // A pack and an npm install first (well under a minute here, more under load).
  this.timeout(240_000);
  let redis;
  const group = new RedInstances();
  const connected = /\[clarus-connection:acme\] connected to Redis at redis:\/\/127\.0\.0\.1:\d+\/0$/;

  before(async function () {
    redis = await new RedisServer({ password: PASSWORD }).start();
    await group.start({ count: INSTANCES });
    await group.deployAll(sharedFlow(redis.url()));
  });
  after(async function () {
    await group.dispose();
    await redis.dispose();
  });

  it("should connect every instance's connection to the shared Redis, without logging the password", async function () {
    for (const red of group.instances) await red.waitForLine(connected);
    assert.equal(await redis.clientsNamed(), INSTANCES);
    for (const red of group.instances) {
      assert.ok(!red.lines.some((line) => line.includes(PASSWORD)), "the Redis password was logged");
    }
  });

  it("should say once that Redis went away and be back by itself when it returns, on every instance", async function () {
    const marks = group.instances.map((red) => red.lines.length);
    await redis.stop();
    for (const [index, red] of group.instances.entries()) {
      await red.waitForLine(/\[warn\] \[clarus-connection:acme\] Redis at .* unavailable: /, {
        since: marks[index],
      });
    }
    await redis.start();
    for (const [index, red] of group.instances.entries()) {
      await red.waitForLine(/\[clarus-connection:acme\] Redis at .* is back after \d+\.\d s$/, {
        since: marks[index],
        timeoutMs: 30_000,
      });
      const warnings = red.lines.slice(marks[index]).filter((line) => /\[warn\].*Redis at/.test(line));
      assert.ok(
        warnings.length <= 2,
        `instance ${index} warned ${warnings.length} times:\n${warnings.join("\n")}`,
      );
      assert.ok(red.running, `instance ${index} is still running`);
    }
    assert.equal(await redis.clientsNamed(), INSTANCES);
  });
});
