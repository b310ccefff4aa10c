import { expirySeconds, isFormatOneEntry, RECORD_BYTES } from "./dedupe-journal";
import { type Digest, DIGEST_BYTES, type DigestIndex, digestOf } from "./digest-index";

/**
 * The dedupe snapshot, format 2 (`dedupe-<id>.snapshot`, binary, little-endian): a 16-byte header, the ASCII
 * magic `CLDS`, u16 format (2), u16 record size (20), u32 record count, u32 zero; then one record an entry
 * from the least to the most recently seen, its 16-byte digest and u32 expiry in seconds since the epoch.
 * Format 1 (every version before the digest index) is `dedupe-<id>.json`, `{"version":1,"entries":[[key,
 * expiryMs], …]}` in the same order; it still loads.
 */
export const SNAPSHOT_FORMAT = 2;
const MAGIC = "CLDS";
const HEADER_BYTES = 16;

/** The index's entries that have not expired by `nowSeconds`, as a format-2 snapshot. */
export function encodeSnapshot(index: DigestIndex, nowSeconds: number): Buffer {
  const data = Buffer.allocUnsafe(HEADER_BYTES + index.size * RECORD_BYTES);
  // A DataView rather than Buffer's write methods: some ten times faster at millions of records.
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  let offset = HEADER_BYTES;
  index.forEachOldestFirst((words, expiry) => {
    if (expiry <= nowSeconds) return;
    view.setUint32(offset, words[0], true);
    view.setUint32(offset + 4, words[1], true);
    view.setUint32(offset + 8, words[2], true);
    view.setUint32(offset + 12, words[3], true);
    view.setUint32(offset + DIGEST_BYTES, expiry, true);
    offset += RECORD_BYTES;
  });
  data.write(MAGIC, 0, "latin1");
  data.writeUInt16LE(SNAPSHOT_FORMAT, 4);
  data.writeUInt16LE(RECORD_BYTES, 6);
  data.writeUInt32LE((offset - HEADER_BYTES) / RECORD_BYTES, 8);
  data.writeUInt32LE(0, 12);
  return data.subarray(0, offset);
}

/**
 * Calls `apply` for each entry of a format-2 snapshot, oldest first (the digest is a view into `data`).
 * Returns why it cannot be read, or undefined once every entry was applied.
 */
export function replaySnapshot(
  data: Buffer,
  apply: (digest: Digest, expiry: number) => void,
  /** Told the number of entries before the first is applied. */
  expect?: (count: number) => void,
): string | undefined {
  if (data.length < HEADER_BYTES || data.toString("latin1", 0, 4) !== MAGIC) return "not a dedupe snapshot";
  const format = data.readUInt16LE(4);
  if (format !== SNAPSHOT_FORMAT) return `format ${format}, which this version does not read`;
  const count = data.readUInt32LE(8);
  if (data.readUInt16LE(6) !== RECORD_BYTES || data.length !== HEADER_BYTES + count * RECORD_BYTES)
    return "its length does not match its header";
  expect?.(count);
  // Copied into one scratch array: a subarray a record would cost more than the rest of the load.
  const digest = new Uint8Array(DIGEST_BYTES);
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  for (let offset = HEADER_BYTES; offset < data.length; offset += RECORD_BYTES) {
    for (let i = 0; i < DIGEST_BYTES; i++) digest[i] = data[offset + i];
    apply(digest, view.getUint32(offset + DIGEST_BYTES, true));
  }
  return undefined;
}

/** Calls `apply` for each entry of a format-1 (JSON) snapshot, oldest first; false when it is unreadable. */
export function replayFormatOneSnapshot(
  text: string,
  apply: (digest: Digest, expiry: number) => void,
): boolean {
  let entries: unknown;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null) return false;
    entries = (parsed as { entries?: unknown }).entries;
  } catch {
    return false;
  }
  if (!Array.isArray(entries)) return false;
  for (const entry of entries) {
    if (isFormatOneEntry(entry)) apply(digestOf(entry[0]), expirySeconds(entry[1]));
  }
  return true;
}
