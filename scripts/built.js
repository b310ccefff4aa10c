// `prepare` asks this first (`node scripts/built.js || npm run build`): it exits 0 when build/ holds every
// node of package.json's node-red.nodes, else 1 so the package is built. A clean clone, `npm install
// github:…` and `npm install git+file://…` have no build/ and get one; a working copy that has one keeps it
// (`npm pack` and `npm publish` rebuild anyway through `prepack`, and `npm test` builds first).
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..");
const entries = Object.values(require(path.join(root, "package.json"))["node-red"].nodes);
const missing = entries.filter(
  (entry) =>
    !fs.existsSync(path.join(root, entry)) ||
    !fs.existsSync(path.join(root, entry.replace(/\.js$/, ".html"))),
);
if (missing.length > 0) {
  console.log(`build/ is missing ${missing.length} of ${entries.length} nodes: building`);
  process.exit(1);
}
