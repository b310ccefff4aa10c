// A flow's output as a file of lines that a test reads back: written by core function and file nodes in a
// real Node-RED, awaited by watching the file's directory, never by sleeping.
const fs = require("node:fs");
const path = require("node:path");

/** The lines of `file` as parsed by `parse` (one line in, one value out); none when the file is missing. */
function readLines(file, parse = (line) => line) {
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map(parse);
}

/**
 * Resolves with `read()` once `done(read())` holds, reading again whenever the directory of `file` changes;
 * rejects after `timeoutMs` with `describe(read())` in the message.
 */
function waitForFile(
  file,
  read,
  done,
  { timeoutMs = 30_000, what = "the output", describe = () => "" } = {},
) {
  return new Promise((resolve, reject) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const check = () => {
      const value = read();
      if (!done(value)) return;
      finish();
      resolve(value);
    };
    const watcher = fs.watch(path.dirname(file), check);
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`${what} not reached within ${timeoutMs} ms ${describe(read())}`));
    }, timeoutMs);
    function finish() {
      clearTimeout(timer);
      watcher.close();
    }
    check();
  });
}

/**
 * A core function node, then a core file node that appends its payload as one line of `file`, for a flow
 * whose messages a test reads back. `func` makes the payload a string. The pair is wired in order; the file
 * node passes each message on to `next` (ids), e.g. to a clarus-confirm.
 */
function fileRecorder({ id, z, file, func, x = 600, y = 80, next = [] }) {
  return [
    { id, type: "function", z, name: `${id} line`, func, outputs: 1, x, y, wires: [[`${id}-file`]] },
    {
      id: `${id}-file`,
      type: "file",
      z,
      name: `${id} append`,
      filename: file,
      filenameType: "str",
      appendNewline: true,
      createDir: true,
      overwriteFile: "false",
      encoding: "none",
      x: x + 160,
      y,
      wires: [next],
    },
  ];
}

module.exports = { readLines, waitForFile, fileRecorder };
