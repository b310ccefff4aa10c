// The runtime loads <node>.html, locales/ and icons/ from the directory of each compiled entry,
// so the hand-written editor files are copied beside the JavaScript that tsc emits.
const fs = require("node:fs");
const path = require("node:path");

const root = path.join(__dirname, "..");
const out = path.join(root, "build", "nodes");

for (const file of fs.readdirSync(path.join(root, "nodes"))) {
  if (file.endsWith(".html")) fs.copyFileSync(path.join(root, "nodes", file), path.join(out, file));
}
fs.cpSync(path.join(root, "nodes", "locales"), path.join(out, "locales"), { recursive: true });
fs.cpSync(path.join(root, "icons"), path.join(out, "icons"), { recursive: true });
