// Several real Node-RED processes (red.js) from the packed tarball, each with its own user directory and port,
// as copies of one project behind a load balancer: for the multi-instance tests on one shared Redis. The
// package is installed once and the user directory copied, so N instances cost one `npm install`.
const fs = require("node:fs");
const path = require("node:path");

const {
  deployFlows,
  freePort,
  installIntoUserDir,
  makeTempDir,
  packPackage,
  removeDir,
  startNodeRed,
  writeSettings,
} = require("./red-process");

class RedInstances {
  constructor() {
    this.root = makeTempDir("clarus-instances-");
    this.instances = [];
    this.previous = [];
    this.userDirs = [];
  }

  /**
   * Packs the package (unless `tarball` is given), installs it once and starts `count` Node-RED processes.
   * `settings` (JSON values) go into every settings.js; all share one credentialSecret, as copies of one
   * project must to read the same credentials.
   */
  async start({ count, tarball, settings = {}, logLevel = "info" }) {
    tarball ??= await packPackage({ destination: this.root });
    const template = path.join(this.root, "user-template");
    fs.mkdirSync(template);
    await installIntoUserDir({ userDir: template, packages: [tarball] });
    const starting = [];
    for (let index = 0; index < count; index++) {
      const userDir = path.join(this.root, `user-${index}`);
      fs.cpSync(template, userDir, { recursive: true });
      const port = await freePort();
      writeSettings({ userDir, port, logLevel, extra: settings });
      this.userDirs.push(userDir);
      starting.push(startNodeRed({ userDir, port }));
    }
    // Started side by side, as replicas are: each awaits its own readiness.
    const started = await Promise.allSettled(starting);
    this.instances = started.filter((result) => result.status === "fulfilled").map((result) => result.value);
    const failed = started.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
    return this.instances;
  }

  /** The same flows to every instance (what a project's rollout does), each deploy awaited. */
  async deployAll(flows) {
    for (const red of this.instances) await deployFlows(red, flows);
  }

  /**
   * Starts instance `index` again on its port and user directory (after a stop or a kill), with the flows it
   * last had. The process it replaces stays in `previous`, its log lines with it. `whileStopped` runs between
   * the two, when the stopped process has written everything it will.
   */
  async restart(index, { whileStopped } = {}) {
    const previous = this.instances[index];
    await previous.stop();
    await whileStopped?.();
    this.previous.push(previous);
    this.instances[index] = await startNodeRed({ userDir: this.userDirs[index], port: previous.port });
    return this.instances[index];
  }

  /** Stops every instance (SIGINT, Node-RED closes its nodes) and removes the directories. */
  async dispose() {
    await Promise.all(this.instances.map((red) => red.stop().catch(() => red.kill())));
    removeDir(this.root);
  }
}

module.exports = { RedInstances };
