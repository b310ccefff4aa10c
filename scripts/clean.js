// Removes the compiled output so a build never ships files from a deleted source.
const fs = require("node:fs");
const path = require("node:path");

fs.rmSync(path.join(__dirname, "..", "build", "nodes"), { recursive: true, force: true });
