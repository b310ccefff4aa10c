import { type Digest, DIGEST_BYTES, digestOf } from "./digest-index";

/**
 * The dedupe journal, format 2: a first line `clarus-dedupe-journal 2`, then one line a claim,
 * `<digest, 32 hex digits> <expiry, seconds since the epoch>`, where expiry 0 is a released key. Format 1
 * (every version before the digest index) has no first line and one JSON line a claim, `[key, expiryMs]`;
 * its lines still load, one by one, so a journal that holds both (a format-1 journal the store could not
 * convert at once, appended to since) loads whole.
 */
export const JOURNAL_FORMAT = 2;
export const JOURNAL_HEADER = `clarus-dedupe-journal ${JOURNAL_FORMAT}\n`;
const HEADER_PREFIX = "clarus-dedupe-journal ";
const RECORD_LINE = /^[0-9a-f]{32} \d{1,10}$/;

/** A claim as the store keeps it until it is written: digest (16 bytes), then expiry (u32, little-endian). */
export const RECORD_BYTES = DIGEST_BYTES + 4;

/**
 * Claims waiting to be written, packed 20 bytes each: a full disk can hold up a journal's worth of them, and
 * a string each would cost five times as much.
 */
export class PendingRecords {
  private bytes = Buffer.allocUnsafe(RECORD_BYTES * 256);
  private used = 0;

  get count(): number {
    return this.used / RECORD_BYTES;
  }

  push(digest: Digest, expiry: number): void {
    this.reserve(RECORD_BYTES);
    if (typeof digest === "string") this.bytes.write(digest, this.used, DIGEST_BYTES, "latin1");
    else for (let i = 0; i < DIGEST_BYTES; i++) this.bytes[this.used + i] = digest[i];
    this.bytes.writeUInt32LE(expiry, this.used + DIGEST_BYTES);
    this.used += RECORD_BYTES;
  }

  /** Every record so far, oldest first, and none left here. */
  take(): Buffer {
    const taken = Buffer.from(this.bytes.subarray(0, this.used));
    this.clear();
    return taken;
  }

  /** Puts records taken earlier back in front of the ones pushed since (a failed write gives them back). */
  giveBack(records: Buffer): void {
    const later = this.take();
    this.reserve(records.length + later.length);
    this.bytes.set(records, 0);
    this.bytes.set(later, records.length);
    this.used = records.length + later.length;
  }

  clear(): void {
    this.used = 0;
    if (this.bytes.length > RECORD_BYTES * 65536) this.bytes = Buffer.allocUnsafe(RECORD_BYTES * 256);
  }

  private reserve(more: number): void {
    if (this.used + more <= this.bytes.length) return;
    let size = this.bytes.length;
    while (size < this.used + more) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.bytes.copy(grown, 0, 0, this.used);
    this.bytes = grown;
  }
}

/** The journal lines of packed records (`PendingRecords.take()`), each ending in a newline. */
export function journalLines(records: Buffer): Buffer {
  const lines: string[] = [];
  for (let offset = 0; offset < records.length; offset += RECORD_BYTES) {
    const digest = records.toString("hex", offset, offset + DIGEST_BYTES);
    lines.push(`${digest} ${records.readUInt32LE(offset + DIGEST_BYTES)}\n`);
  }
  return Buffer.from(lines.join(""), "latin1");
}

export interface JournalReplay {
  /** Lines of claims read (they count towards the next compaction). */
  records: number;
  unreadable: number;
  /** Lines in format 1: the journal is converted at once. */
  formatOne: number;
  /** The format of a first line this version does not read: the journal is skipped. */
  unknownFormat?: string;
  /** Ends in a partial line (a kill during a write). */
  torn: boolean;
}

/**
 * Replays a journal's text in order, calling `apply` with each claim's digest (16 bytes in a buffer reused
 * from call to call) and expiry in seconds (0: released). Format-1 keys are hashed into digests here.
 */
export function replayJournal(text: string, apply: (digest: Digest, expiry: number) => void): JournalReplay {
  const result: JournalReplay = { records: 0, unreadable: 0, formatOne: 0, torn: false };
  const scratch = Buffer.alloc(DIGEST_BYTES);
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end === -1) {
      end = text.length;
      result.torn = true;
    }
    const line = text.slice(start, end);
    start = end + 1;
    if (line === "") continue;
    if (line.startsWith(HEADER_PREFIX)) {
      const format = line.slice(HEADER_PREFIX.length);
      if (format !== String(JOURNAL_FORMAT)) {
        result.unknownFormat = format;
        return result;
      }
      continue;
    }
    if (RECORD_LINE.test(line)) {
      scratch.write(line, 0, DIGEST_BYTES, "hex");
      const expiry = Number(line.slice(2 * DIGEST_BYTES + 1));
      if (expiry > 0xffffffff) {
        result.unreadable++;
        continue;
      }
      result.records++;
      apply(scratch, expiry);
      continue;
    }
    const entry = parseFormatOneLine(line);
    if (entry === undefined) {
      result.unreadable++;
      continue;
    }
    result.records++;
    result.formatOne++;
    apply(digestOf(entry[0]), expirySeconds(entry[1]));
  }
  return result;
}

/** An expiry in milliseconds as the index keeps it: whole seconds, rounded up, so a key is never let go early. */
export function expirySeconds(expiresAtMs: number): number {
  if (expiresAtMs <= 0) return 0;
  return Math.min(0xffffffff, Math.ceil(expiresAtMs / 1000));
}

function parseFormatOneLine(line: string): [string, number] | undefined {
  try {
    const parsed: unknown = JSON.parse(line);
    return isFormatOneEntry(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** `[key, expiryMs]`: a format-1 journal line and a format-1 snapshot entry. */
export function isFormatOneEntry(value: unknown): value is [string, number] {
  return (
    Array.isArray(value) && value.length === 2 && typeof value[0] === "string" && Number.isFinite(value[1])
  );
}
