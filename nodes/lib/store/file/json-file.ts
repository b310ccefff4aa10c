import fs from "node:fs";
import path from "node:path";

import { replaceFile } from "./durable-write";

/** Replaces a file atomically: written whole and synced beside it, then renamed over it. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await replaceFile(file, temp, Buffer.from(text), true);
}

/** The file's text, or undefined when it does not exist or cannot be read. */
export function readTextIfExists(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}
