import fs from "node:fs";
import path from "node:path";

/** How far back `openForAppend` reads at a time to find the end of the last whole record. */
const TAIL_CHUNK_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

/**
 * Writes every byte of `data` from `position` on. On a nearly full disk Linux answers a write with a short
 * count, and only the next one with ENOSPC: the rest is written again until all of it is, and a write that
 * takes nothing is the failure it is.
 */
export async function writeAll(
  handle: fs.promises.FileHandle,
  data: Buffer,
  position: number,
): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset, position + offset);
    if (bytesWritten <= 0) {
      throw new Error(`the disk took none of the last ${data.length - offset} bytes (is it full?)`);
    }
    offset += bytesWritten;
  }
}

/** An open file of records: its whole records end at `size`; room written ahead of them ends at `fileSize`. */
export interface OpenedLog {
  handle: fs.promises.FileHandle;
  size: number;
  fileSize: number;
  syncsEachWrite: boolean;
}

/**
 * Opens a file of one-line records to append to, and returns it with the length of its whole records. With
 * `keepsRoom`, zeros after them are room reserved ahead (`reserveRoom`) and are kept. A file whose last record
 * was torn (a kill or a full disk during its write) is cut back to the end of the record before, so the next
 * record never glues onto it. A file this call creates has its directory synced: until then a power cut may
 * lose the file, and every record synced into it, with it.
 */
export async function openForAppend(
  file: string,
  sync: boolean,
  options: { syncEachWrite?: boolean; keepsRoom?: boolean } = {},
): Promise<OpenedLog> {
  const { O_CREAT, O_DSYNC, O_EXCL, O_RDWR } = fs.constants;
  // O_DSYNC makes each write return only once its data is on the disk: one call instead of a write and an
  // fdatasync, each a trip through libuv's thread pool. Windows has no O_DSYNC; there, the caller syncs.
  // No O_APPEND: records go after the last one, which is before the room reserved at the file's end.
  const syncsEachWrite = sync && options.syncEachWrite === true && O_DSYNC !== undefined;
  const flags = O_RDWR | O_CREAT | (syncsEachWrite ? O_DSYNC : 0);
  let handle: fs.promises.FileHandle;
  let created = true;
  try {
    handle = await fs.promises.open(file, flags | O_EXCL);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    created = false;
    handle = await fs.promises.open(file, flags);
  }
  try {
    if (created) {
      if (sync) await syncDirectory(path.dirname(file));
      return { handle, size: 0, fileSize: 0, syncsEachWrite };
    }
    const { size } = await handle.stat();
    const whole = await endOfLastRecord(handle, size);
    if (whole < size && !(options.keepsRoom === true && (await onlyZeros(handle, whole, size)))) {
      await cutBack(handle, whole, sync);
      return { handle, size: whole, fileSize: whole, syncsEachWrite };
    }
    return { handle, size: whole, fileSize: size, syncsEachWrite };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/**
 * Writes zeros from `from` to `to`, so that records written there later change only data, not the file's size:
 * with O_DSYNC such a write syncs no metadata and takes about two thirds of an append's time (ext4). Written,
 * not fallocate'd: Node has no fallocate, and an allocated but unwritten extent would be metadata to change again.
 */
export async function reserveRoom(
  handle: fs.promises.FileHandle,
  from: number,
  to: number,
  sync: boolean,
): Promise<void> {
  if (to <= from) return;
  await writeAll(handle, Buffer.alloc(to - from), from);
  if (sync) await handle.datasync();
}

/** Drops everything after `size` bytes: what a failed append left behind. */
export async function cutBack(handle: fs.promises.FileHandle, size: number, sync: boolean): Promise<void> {
  await handle.truncate(size);
  if (sync) await handle.datasync();
}

/**
 * Replaces `file` with `data` atomically: written whole into `temp`, synced, checked to hold every byte, and
 * only then renamed over it, the directory synced after. Anything short of that keeps the old file and
 * rejects; the temp file is removed.
 */
export async function replaceFile(file: string, temp: string, data: Buffer, sync: boolean): Promise<void> {
  try {
    const handle = await fs.promises.open(temp, "w");
    try {
      await writeAll(handle, data, 0);
      if (sync) await handle.datasync();
      const { size } = await handle.stat();
      if (size !== data.length) {
        throw new Error(`${path.basename(temp)} holds ${size} of the ${data.length} bytes written to it`);
      }
    } finally {
      await handle.close();
    }
    await fs.promises.rename(temp, file);
  } catch (error) {
    await removeIfRegularFile(temp);
    throw error;
  }
  if (sync) await syncDirectory(path.dirname(file));
}

/** Makes a new or renamed entry durable: the directory entry is on disk only once the directory is synced. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await fs.promises.open(directory, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The length of the file up to and with its last newline (0 without one). */
async function endOfLastRecord(handle: fs.promises.FileHandle, size: number): Promise<number> {
  let end = size;
  const chunk = Buffer.alloc(Math.min(TAIL_CHUNK_BYTES, Math.max(1, size)));
  while (end > 0) {
    const start = Math.max(0, end - chunk.length);
    const { bytesRead } = await handle.read(chunk, 0, end - start, start);
    const newline = chunk.subarray(0, bytesRead).lastIndexOf(NEWLINE);
    if (newline >= 0) return start + newline + 1;
    end = start;
  }
  return 0;
}

/** Whether bytes `from` to `to` of the file are all zeros: room reserved ahead, not a torn record. */
async function onlyZeros(handle: fs.promises.FileHandle, from: number, to: number): Promise<boolean> {
  const chunk = Buffer.alloc(Math.min(TAIL_CHUNK_BYTES, to - from));
  for (let start = from; start < to;) {
    const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, to - start), start);
    if (bytesRead === 0) return false;
    if (chunk.subarray(0, bytesRead).some((byte) => byte !== 0)) return false;
    start += bytesRead;
  }
  return true;
}

/** Removes a half-written temp file; anything else at that path (a link someone put there) is not ours. */
async function removeIfRegularFile(file: string): Promise<void> {
  try {
    if ((await fs.promises.lstat(file)).isFile()) await fs.promises.rm(file, { force: true });
  } catch {
    // Nothing there, or nothing we may remove: the next rewrite writes over it.
  }
}
