// `npm run scorecard`: the Node-RED flow library's package checks (node-red-dev-cli `validate`) that need
// no network, run against what ships (the built `build/` and `examples/`), plus two local checks that the
// tarball holds what the library scores. Prints a table; exits 1 when a hard check fails (`--strict`: any).
//
//   node scripts/scorecard.js [packageDir] [--strict] [--json] [--first-published <ISO date>]
//
// The library's own checks (node-red-dev-cli src/libs/checkpackage.js, checknodes.js, checkdeps.js) that
// need the network are left out or stood in for: N01 and P08 (the catalogue), P02 (clones the repository);
// P06/P07 read the registry, so the versions they need are pinned below; D03 asks npm for each dependency's
// latest version, for which the version locked in package-lock.json stands in.
const { execFile } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const { parseArgs } = require("node:util");

const semver = require("semver");

let acorn;
try {
  acorn = require("acorn");
} catch {
  acorn = undefined; // N02 falls back to a regex that reads only each type and its category
}

/**
 * node-red's npm dist-tags that P06 compares `node-red.version` with (the library takes `latest` and every
 * tag containing `maintenance`). Pinned from `npm view node-red dist-tags` and the Node-RED release plan
 * (nodered.org/about/releases) on 2026-11-28: latest 5.0.7, maintenance 4.1.15 (npm answered only `latest`
 * that day). Update both tables when Node-RED publishes a release or moves a tag.
 */
const NODE_RED_DIST_TAGS = Object.freeze({ latest: "5.0.7", maintenance: "4.1.15" });

/** `engines.node` of node-red@latest (`npm view node-red@5.0.7 engines`); P07 takes its minVersion. */
const NODE_RED_LATEST_ENGINES_NODE = ">=22.9";

/** node-red-dev-cli badpackages.json: packages that break Node-RED when anywhere in the runtime tree. */
const BAD_PACKAGES = Object.freeze({ "agent-base": "<6.0.0" });

/** D01: the 95th percentile of the catalogue in Oct 2021, per node-red-dev-cli. */
const MAX_DEPENDENCIES = 6;

/** P04: packages first published before this date may keep an unscoped name. */
const SCOPED_NAMES_FROM = Date.parse("2021-12-01T00:00:00.000Z");
const SCOPED_NAME = /^@[a-z\d][\w.-]+\/[a-z\d][\w.-]*$/;

/** The same pattern node-red-dev-cli uses to find the editor scripts of a node set. */
const SCRIPT_BLOCK = /<script.+?type=['"]text\/javascript['"].*?>([\S\s]*?)<\/script>/gi;

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

function readJsonIfExists(file) {
  return fs.existsSync(file) ? readJson(file) : undefined;
}

function keyName(key) {
  return key.type === "Identifier" ? key.name : String(key.value);
}

/** Every node in an acorn tree, depth first. */
function* walk(node) {
  if (!node || typeof node.type !== "string") return;
  yield node;
  for (const value of Object.values(node)) {
    if (Array.isArray(value)) {
      for (const child of value) yield* walk(child);
    } else if (value && typeof value.type === "string") {
      yield* walk(value);
    }
  }
}

/**
 * The node types an editor file registers, parsed the way the flow library does: each
 * `<script type="text/javascript">` block, each `RED.nodes.registerType(<literal>, {...})` in it.
 * Resolves to `{ <type>: { category, defaults: [names], credentials: [names] } }`; `defaults` and
 * `credentials` are undefined when not written inline (or when acorn is missing).
 */
function readNodeDefinitions(htmlFile) {
  const content = fs.readFileSync(htmlFile, "utf8");
  const scripts = [...content.matchAll(SCRIPT_BLOCK)].map((match) => match[1]);
  if (scripts.length === 0) throw new Error(`${htmlFile}: no <script type="text/javascript"> section`);
  const definitions = {};
  for (const script of scripts) {
    if (!acorn) {
      Object.assign(definitions, definitionsByRegex(script));
      continue;
    }
    const tree = acorn.parse(script, { ecmaVersion: "latest" });
    for (const node of walk(tree)) {
      if (node.type !== "CallExpression" || node.callee.property?.name !== "registerType") continue;
      const [typeNode, defNode] = node.arguments;
      if (typeNode?.type !== "Literal" || defNode?.type !== "ObjectExpression") {
        throw new Error(`${htmlFile}: registerType needs a literal type and an inline object`);
      }
      const definition = {};
      for (const property of defNode.properties) {
        if (property.type !== "Property") continue;
        const name = keyName(property.key);
        const value = property.value;
        if (name === "category" && value.type === "Literal") definition.category = value.value;
        if ((name === "defaults" || name === "credentials") && value.type === "ObjectExpression") {
          definition[name] = value.properties.filter((p) => p.type === "Property").map((p) => keyName(p.key));
        }
      }
      definitions[typeNode.value] = definition;
    }
  }
  if (Object.keys(definitions).length === 0)
    throw new Error(`${htmlFile}: no registerType with a literal type`);
  return definitions;
}

/** Without acorn: the literal type and the first `category` after it; enough for N02. */
function definitionsByRegex(script) {
  const definitions = {};
  const calls = [...script.matchAll(/registerType\(\s*(['"])([^'"]+)\1\s*,\s*\{/g)];
  calls.forEach((call, i) => {
    const end = i + 1 < calls.length ? calls[i + 1].index : script.length;
    const category = /\bcategory\s*:\s*(['"])([^'"]*)\1/.exec(script.slice(call.index, end));
    definitions[call[2]] = { category: category ? category[2] : undefined };
  });
  return definitions;
}

/** Every file under `dir`, relative paths with `/`, sorted. */
function listFiles(dir, base = dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const full = path.join(dir, entry.name);
      return entry.isDirectory()
        ? listFiles(full, base)
        : [path.relative(base, full).split(path.sep).join("/")];
    })
    .sort();
}

/** npm's own lifecycle variables (set under `npm run`) must not leak into the child npm. */
function childNpmEnv() {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^npm_(package|lifecycle|config_local_prefix|config_dry_run|config_json)/i.test(key)) delete env[key];
  }
  return env;
}

/** The files `npm pack` would put in the tarball (paths relative to the package root). */
function packedFiles(packageDir) {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  return new Promise((resolve, reject) => {
    execFile(
      npm,
      ["pack", "--dry-run", "--json", "--ignore-scripts"],
      { cwd: packageDir, env: childNpmEnv(), maxBuffer: 16 * 1024 * 1024, timeout: 120_000 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`npm pack --dry-run failed: ${error.message}\n${stderr}`));
        try {
          const [packed] = JSON.parse(stdout);
          resolve(new Set(packed.files.map((file) => file.path)));
        } catch (parseError) {
          reject(new Error(`npm pack --dry-run printed no JSON: ${parseError.message}`));
        }
      },
    );
  });
}

/** Whether a `files` entry of package.json includes `relative` (a path in the package). */
function filesEntryCovers(entry, relative) {
  const pattern = String(entry)
    .replace(/^\.\//, "")
    .replace(/\/(\*\*?\/?)*$/, "")
    .replace(/\/+$/, "");
  if (pattern === "" || pattern === "*" || pattern === "**") return true;
  if (!/[*?[]/.test(pattern)) return relative === pattern || relative.startsWith(`${pattern}/`);
  const source = pattern
    .split(/(\*\*\/?|\*|\?)/)
    .map((part) =>
      part === "**" || part === "**/"
        ? ".*"
        : part === "*"
          ? "[^/]*"
          : part === "?"
            ? "[^/]"
            : part.replace(/[.+^${}()|[\]\\]/g, "\\$&"),
    )
    .join("");
  return new RegExp(`^${source}(/.*)?$`).test(relative);
}

/** A dependency's range as semver sees it (`npm:name@^1` aliases); undefined for git, file, URL specs. */
function semverRange(spec) {
  const alias = /^npm:(?:@[^/]+\/)?[^@]+@(.+)$/.exec(spec);
  const range = alias ? alias[1] : spec;
  return semver.validRange(range) ? range : undefined;
}

/** The last package name in a lock file key: `node_modules/a/node_modules/@s/b` → `@s/b`. */
function lockKeyName(key) {
  const at = key.lastIndexOf("node_modules/");
  return at === -1 ? undefined : key.slice(at + "node_modules/".length);
}

function nodesMap(pkg) {
  const nodes = pkg["node-red"]?.nodes;
  return nodes && typeof nodes === "object" ? nodes : {};
}

/** The package, its lock file, its node definitions (from the built html) and its examples. */
function loadPackage(packageDir) {
  const pkg = readJson(path.join(packageDir, "package.json"));
  const lock = readJsonIfExists(path.join(packageDir, "package-lock.json"));
  const definitions = {};
  const definitionErrors = [];
  for (const [set, file] of Object.entries(nodesMap(pkg))) {
    const html = path.join(packageDir, String(file).replace(/\.c?js$/, ".html"));
    try {
      if (!fs.existsSync(html)) {
        throw new Error(`${path.relative(packageDir, html)} not found (node set ${set}; build first?)`);
      }
      Object.assign(definitions, readNodeDefinitions(html));
    } catch (error) {
      definitionErrors.push(error.message);
    }
  }
  const examplesDir = path.join(packageDir, "examples");
  const examples = listFiles(examplesDir).map((file) => {
    try {
      const flow = JSON.parse(fs.readFileSync(path.join(examplesDir, file), "utf8"));
      return Array.isArray(flow) ? { file, flow } : { file, error: "is not a flow array" };
    } catch (error) {
      return { file, error: `does not parse: ${error.message}` };
    }
  });
  return { dir: packageDir, pkg, lock, definitions, definitionErrors, examples, examplesDir };
}

const pass = (detail) => ({ pass: true, detail });
const fail = (detail) => ({ pass: false, detail });

/** Each check: id (the library's where it is one), severity (hard: ❌ on the library's scorecard), run. */
const CHECKS = [
  {
    id: "P01",
    title: "license",
    severity: "hard",
    run: ({ pkg }) => {
      const license = typeof pkg.license === "object" ? pkg.license?.type : pkg.license;
      return typeof license === "string" && license.trim() !== ""
        ? pass(license)
        : fail("no license in package.json");
    },
  },
  {
    id: "P03",
    title: "repository or bugs",
    severity: "warn",
    run: ({ pkg }) => {
      const url = (value) => (typeof value === "string" ? value : value?.url || value?.email);
      if (pkg.repository) return pass(url(pkg.repository) || "repository");
      if (pkg.bugs) return pass(url(pkg.bugs) || "bugs");
      return fail("neither repository nor bugs in package.json");
    },
  },
  {
    id: "P04",
    title: "scoped name",
    severity: "hard",
    run: ({ pkg }, options) => {
      const name = String(pkg.name ?? "");
      if (SCOPED_NAME.test(name)) return pass(name);
      const contrib = /^(node-red|nodered)(?!-contrib-)/i.test(name)
        ? "an unscoped name starting node-red or nodered must start node-red-contrib-"
        : "";
      const published = options.firstPublished ? Date.parse(options.firstPublished) : NaN;
      if (published < SCOPED_NAMES_FROM) {
        return contrib ? fail(`${name}: ${contrib}`) : pass(`${name} (first published before 2021-12-01)`);
      }
      const rule = "packages first published after 2021-12-01 must use @scope/name";
      return fail(`${name || "(no name)"} is not scoped: ${rule}${contrib ? `, and ${contrib}` : ""}`);
    },
  },
  {
    id: "P05",
    title: "keyword node-red",
    severity: "hard",
    run: ({ pkg }) =>
      Array.isArray(pkg.keywords) && pkg.keywords.includes("node-red")
        ? pass("node-red")
        : fail("keywords do not include node-red"),
  },
  {
    id: "P06",
    title: "node-red.version",
    severity: "warn",
    run: ({ pkg }) => {
      const range = pkg["node-red"]?.version;
      if (typeof range !== "string" || range.trim() === "") return fail("node-red.version is not declared");
      if (!semver.validRange(range)) return fail(`node-red.version ${range} is not a semver range`);
      const tags = Object.entries(NODE_RED_DIST_TAGS);
      const ok = tags.filter(([, version]) => semver.satisfies(version, range));
      const list = (entries) => entries.map(([tag, version]) => `${tag} ${version}`).join(", ");
      return ok.length > 0
        ? pass(`${range}: satisfied by ${list(ok)}`)
        : fail(`${range} is satisfied by no current Node-RED (${list(tags)})`);
    },
  },
  {
    id: "P07",
    title: "engines.node",
    severity: "warn",
    run: ({ pkg }) => {
      const range = pkg.engines?.node;
      if (typeof range !== "string" || range.trim() === "") return fail("engines.node is not declared");
      if (!semver.validRange(range)) return fail(`engines.node ${range} is not a semver range`);
      const minimum = semver.minVersion(NODE_RED_LATEST_ENGINES_NODE).version;
      return semver.satisfies(minimum, range)
        ? pass(`${range}: allows Node ${minimum} (Node-RED ${NODE_RED_DIST_TAGS.latest} minimum)`)
        : fail(`${range} excludes Node ${minimum}, the minimum of Node-RED ${NODE_RED_DIST_TAGS.latest}`);
    },
  },
  {
    id: "N02",
    title: "examples use every node",
    severity: "warn",
    run: ({ definitions, definitionErrors, examples }) => {
      if (definitionErrors.length > 0) return fail(definitionErrors.join("; "));
      const bad = examples.filter((example) => example.error);
      if (bad.length > 0)
        return fail(bad.map((example) => `examples/${example.file} ${example.error}`).join("; "));
      if (examples.length === 0) return fail("no examples/");
      const types = Object.keys(definitions).filter((type) => definitions[type].category !== "config");
      const used = new Set(examples.flatMap((example) => example.flow.map((node) => node?.type)));
      const missing = types.filter((type) => !used.has(type));
      return missing.length === 0
        ? pass(`${types.length} node types in ${examples.length} examples`)
        : fail(`no example uses ${missing.join(", ")}`);
    },
  },
  {
    id: "D01",
    title: "at most 6 dependencies",
    severity: "warn",
    run: ({ pkg }) => {
      const names = Object.keys(pkg.dependencies ?? {});
      if (names.includes("node-red"))
        return fail("node-red is a runtime dependency (make it a devDependency)");
      return names.length <= MAX_DEPENDENCIES
        ? pass(`${names.length} ${names.length === 1 ? "dependency" : "dependencies"}`)
        : fail(`${names.length} dependencies (at most ${MAX_DEPENDENCIES})`);
    },
  },
  {
    id: "D02",
    title: "no known-bad packages",
    severity: "hard",
    run: ({ pkg, lock }) => {
      if (Object.keys(pkg.dependencies ?? {}).length === 0) return pass("no dependencies");
      if (!lock?.packages) return fail("no package-lock.json (v2 or later) to read the runtime tree from");
      const found = [];
      let runtime = 0;
      for (const [key, entry] of Object.entries(lock.packages)) {
        const name = lockKeyName(key);
        if (!name || entry.dev || entry.devOptional) continue;
        runtime++;
        const bad = BAD_PACKAGES[name];
        if (bad && entry.version && semver.satisfies(entry.version, bad))
          found.push(`${name}@${entry.version}`);
      }
      return found.length === 0
        ? pass(`${runtime} runtime packages locked, none known bad`)
        : fail(`known-bad packages in the runtime tree: ${found.join(", ")}`);
    },
  },
  {
    id: "D03",
    title: "dependencies up to date",
    severity: "warn",
    run: ({ pkg, lock }) => {
      const problems = [];
      const entries = Object.entries(pkg.dependencies ?? {});
      for (const [name, spec] of entries) {
        const range = semverRange(String(spec));
        if (!range) continue; // git, file or URL dependency: nothing to compare
        const locked = lock?.packages?.[`node_modules/${name}`]?.version;
        if (!locked) problems.push(`${name} is not in package-lock.json`);
        else if (!semver.satisfies(locked, range))
          problems.push(`${name} ${spec} excludes the locked ${locked}`);
      }
      return problems.length === 0
        ? pass(`${entries.length} ranges satisfied by package-lock.json`)
        : fail(problems.join("; "));
    },
  },
  {
    id: "F01",
    title: "files lists build and examples",
    severity: "hard",
    run: ({ pkg }) => {
      if (!Array.isArray(pkg.files)) return fail("package.json has no files list");
      const needed = [
        ...new Set(
          Object.values(nodesMap(pkg)).map((file) => path.posix.dirname(String(file).replace(/^\.\//, ""))),
        ),
        "examples",
      ];
      const missing = needed.filter((dir) => !pkg.files.some((entry) => filesEntryCovers(entry, dir)));
      return missing.length === 0
        ? pass(needed.join(", "))
        : fail(`files does not include ${missing.join(", ")}`);
    },
  },
  {
    id: "F02",
    title: "npm pack has nodes and examples",
    severity: "hard",
    run: async ({ dir, pkg, examples }, options) => {
      if (options.pack === false) return pass("skipped");
      let packed;
      try {
        packed = await packedFiles(dir);
      } catch (error) {
        return fail(error.message);
      }
      const needed = [
        ...Object.values(nodesMap(pkg)).flatMap((file) => {
          const js = String(file).replace(/^\.\//, "");
          return [js, js.replace(/\.c?js$/, ".html")];
        }),
        ...examples.map((example) => `examples/${example.file}`),
      ];
      const missing = needed.filter((file) => !packed.has(file));
      return missing.length === 0
        ? pass(`${needed.length} node and example files among ${packed.size} packed`)
        : fail(`not in the tarball: ${missing.join(", ")}`);
    },
  },
];

/**
 * Runs every check on the package in `packageDir`. Options: `pack: false` skips `npm pack`;
 * `firstPublished` (ISO date) lets a package published before 2021-12-01 keep an unscoped name.
 */
async function scorecard(packageDir, options = {}) {
  const dir = path.resolve(packageDir);
  const context = loadPackage(dir);
  const results = [];
  for (const check of CHECKS) {
    let outcome;
    try {
      outcome = await check.run(context, options);
    } catch (error) {
      outcome = fail(`check failed to run: ${error.message}`);
    }
    results.push({ id: check.id, title: check.title, severity: check.severity, ...outcome });
  }
  return { dir, name: context.pkg.name, version: context.pkg.version, results };
}

function formatTable(card) {
  const rows = card.results.map((r) => [
    r.id,
    r.pass ? "pass" : r.severity === "hard" ? "FAIL" : "WARN",
    r.severity,
    r.title,
    r.detail,
  ]);
  const header = ["id", "result", "level", "check", "detail"];
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.slice().map((row) => String(row[i]).length)),
  );
  widths[4] = header[4].length; // the detail column is not padded
  const line = (cells) =>
    cells
      .map((cell, i) => (i < cells.length - 1 ? String(cell).padEnd(widths[i]) : String(cell)))
      .join("  ")
      .trimEnd();
  const failed = card.results.filter((r) => !r.pass);
  const hard = failed.filter((r) => r.severity === "hard").length;
  return [
    `Flow library scorecard (offline) for ${card.name}@${card.version}`,
    "",
    line(header),
    line(widths.map((w, i) => "-".repeat(i < 4 ? w : 6))),
    ...rows.map(line),
    "",
    `${card.results.length - failed.length} passed, ${failed.length - hard} warnings, ${hard} hard failures`,
  ].join("\n");
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      strict: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      "first-published": { type: "string" },
    },
  });
  const dir = positionals[0] ?? path.join(__dirname, "..");
  const card = await scorecard(dir, { firstPublished: values["first-published"] });
  console.log(values.json ? JSON.stringify(card, null, 2) : formatTable(card));
  const failed = card.results.filter((r) => !r.pass && (values.strict || r.severity === "hard"));
  process.exitCode = failed.length > 0 ? 1 : 0;
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error.stack || String(error));
    process.exitCode = 2;
  });
}

module.exports = {
  scorecard,
  formatTable,
  readNodeDefinitions,
  CHECKS,
  NODE_RED_DIST_TAGS,
  NODE_RED_LATEST_ENGINES_NODE,
  BAD_PACKAGES,
  MAX_DEPENDENCIES,
};
