// A real full disk for tests: a small tmpfs mounted by the test (root, or CAP_SYS_ADMIN, as here and in CI),
// filled with a filler file until the kernel refuses a write, then freed page by page. On a nearly full disk
// Linux answers a write with a short count, then ENOSPC: what the store must survive.
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

/** The page size: tmpfs allocates a file's space in pages, so free space comes and goes in pages. */
const PAGE_SIZE = Number(execFileSync("getconf", ["PAGESIZE"], { encoding: "utf8" }).trim()) || 4096;

const FILLER = ".filler";

/**
 * Mounts a tmpfs of `sizeBytes` at `dir` (made if missing). A machine that refuses the mount fails the test
 * that asked, with the reason: a full disk is never silently left untested.
 */
function mountTmpfs(dir, sizeBytes) {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeBytes},mode=0777`, "tmpfs", dir], {
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    const said = String(error.stderr || error.message).trim();
    throw new Error(
      `this test needs a small tmpfs of its own for a real full disk, but \`mount -t tmpfs\` at ${dir} was ` +
        `refused (${said}). Run it as root or with CAP_SYS_ADMIN (CI does); it fails rather than skips.`,
      { cause: error },
    );
  }
  return new Tmpfs(dir);
}

class Tmpfs {
  constructor(dir) {
    this.dir = dir;
    this.fillerSize = 0;
  }

  get filler() {
    return path.join(this.dir, FILLER);
  }

  /** Bytes the file system would still give out, as statfs reports them. */
  get freeBytes() {
    const stats = fs.statfsSync(this.dir);
    return stats.bavail * stats.bsize;
  }

  /** Writes the filler until the kernel refuses: afterwards no page is free. */
  fill() {
    const chunk = Buffer.alloc(64 * 1024, 0x2e);
    const fd = fs.openSync(this.filler, "a");
    try {
      for (;;) {
        let written;
        try {
          written = fs.writeSync(fd, chunk);
        } catch (error) {
          if (error.code === "ENOSPC") break;
          throw error;
        }
        this.fillerSize += written;
        if (written === 0) break;
      }
    } finally {
      fs.closeSync(fd);
    }
    return this;
  }

  /** Frees `pages` whole pages of the filler (after `fill`): that much space is free again. */
  freePages(pages) {
    const wholePages = this.fillerSize - (this.fillerSize % PAGE_SIZE);
    this.fillerSize = Math.max(0, wholePages - pages * PAGE_SIZE);
    fs.truncateSync(this.filler, this.fillerSize);
    return this;
  }

  /** Frees at least `bytes`. */
  free(bytes) {
    return this.freePages(Math.ceil(bytes / PAGE_SIZE));
  }

  /** Empties the file system: every file and directory in it goes. */
  clear() {
    for (const name of fs.readdirSync(this.dir)) fs.rmSync(path.join(this.dir, name), { recursive: true });
    this.fillerSize = 0;
  }

  /** Unmounts; a file still open in it (a store not closed by a failed test) is let go lazily. */
  unmount() {
    try {
      execFileSync("umount", [this.dir], { stdio: ["ignore", "pipe", "pipe"] });
    } catch {
      execFileSync("umount", ["-l", this.dir], { stdio: ["ignore", "pipe", "pipe"] });
    }
  }
}

module.exports = { mountTmpfs, PAGE_SIZE };
