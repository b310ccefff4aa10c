// `npm run bench:sync`: how long a synced write takes on a disk, the cost every on-confirm admission shares.
// Writes `--writes` records of `--bytes` each with O_DSYNC, once as appends that grow the file and once into
// room written ahead as zeros (what the inbox does), alternating, in a temporary file under `--dir` (default:
// the system's temp folder; point it at the disk Node-RED's user directory is on). Prints figures; not a test.
//
//   node scripts/bench-sync.js [--dir /var/lib/node-red] [--writes 2000] [--bytes 6000] [--rounds 3]
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { parseArgs } = require("node:util");

const { values: options } = parseArgs({
  options: {
    dir: { type: "string", default: os.tmpdir() },
    writes: { type: "string", default: "2000" },
    bytes: { type: "string", default: "6000" },
    rounds: { type: "string", default: "3" },
  },
});
const WRITES = Number(options.writes);
const BYTES = Number(options.bytes);
const ROUNDS = Number(options.rounds);

const { O_CREAT, O_DSYNC, O_WRONLY, O_APPEND } = fs.constants;
const record = Buffer.alloc(BYTES, "x");
record[BYTES - 1] = 0x0a;

/** Mean milliseconds per write of `write(fd, i)`, `WRITES` times. */
function timed(fd, write) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < WRITES; i++) write(fd, i);
  return Number(process.hrtime.bigint() - started) / 1e6 / WRITES;
}

function appends(file) {
  const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_APPEND | O_DSYNC);
  try {
    return timed(fd, (handle) => fs.writeSync(handle, record));
  } finally {
    fs.closeSync(fd);
  }
}

function intoRoom(file) {
  const fd = fs.openSync(file, O_WRONLY | O_CREAT | O_DSYNC);
  try {
    fs.writeSync(fd, Buffer.alloc(WRITES * BYTES), 0, WRITES * BYTES, 0);
    return timed(fd, (handle, i) => fs.writeSync(handle, record, 0, BYTES, i * BYTES));
  } finally {
    fs.closeSync(fd);
  }
}

const dir = fs.mkdtempSync(path.join(options.dir, "clarus-bench-sync-"));
try {
  console.log(
    `${WRITES} synced writes (O_DSYNC) of ${BYTES} bytes in ${dir}, ${ROUNDS} rounds, mean ms a write:`,
  );
  console.log("round   append   into room");
  for (let round = 1; round <= ROUNDS; round++) {
    const file = path.join(dir, "log");
    fs.rmSync(file, { force: true });
    const append = appends(file);
    fs.rmSync(file, { force: true });
    const room = intoRoom(file);
    console.log(
      `${String(round).padStart(5)}   ${append.toFixed(3).padStart(6)}   ${room.toFixed(3).padStart(9)}`,
    );
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
