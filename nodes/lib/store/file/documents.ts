import fs from "node:fs";
import path from "node:path";

import { errorMessage } from "../../node-red/errors";
import { type Documents, safeFileName, StoreUnavailableError } from "../connection-store";
import { readTextIfExists, writeFileAtomic } from "./json-file";

/**
 * The file store's documents: `<name>.json` in a directory (the connection's `<userDir>/clarus`), each
 * replaced atomically; in memory without a directory. On its own it serves what needs a connection's
 * documents when the connection is not deployed (the webhook dialog's "Register now").
 */
export class FileDocuments implements Documents {
  private readonly inMemory = new Map<string, unknown>();

  constructor(private readonly directory: string | undefined) {}

  async readDocument(name: string): Promise<unknown> {
    if (!this.directory) return structuredClone(this.inMemory.get(name));
    const text = readTextIfExists(this.file(name));
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch (error) {
      // Not "unavailable": asking again gives the same answer (as with Redis). The caller decides.
      throw new Error(`document ${name} is not valid JSON: ${errorMessage(error)}`, { cause: error });
    }
  }

  async writeDocument(name: string, value: unknown): Promise<void> {
    if (!this.directory) {
      this.inMemory.set(name, structuredClone(value));
      return;
    }
    try {
      await writeFileAtomic(this.file(name), JSON.stringify(value));
    } catch (error) {
      throw new StoreUnavailableError(`document ${name} could not be written: ${errorMessage(error)}`);
    }
  }

  async removeDocument(name: string): Promise<void> {
    if (!this.directory) {
      this.inMemory.delete(name);
      return;
    }
    await fs.promises.rm(this.file(name), { force: true });
  }

  private file(name: string): string {
    return path.join(this.directory as string, `${safeFileName(name)}.json`);
  }
}
