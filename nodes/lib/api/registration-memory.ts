import { createHash } from "node:crypto";

import { errorMessage } from "../node-red/errors";
import { isPlainObject } from "../json";
import { readTextIfExists, writeFileAtomic } from "../store/json-file";

/**
 * What registration last wrote into each automation it manages, as a fingerprint of URL and method (never
 * the URL, which holds the token). Clarus documents no REST read of an automation's actions, so on a tenant
 * without one this is how a redeploy tells "unchanged" from "the token was rotated" (research/clarus.md §3.4).
 * Kept in a file per connection in the Node-RED user directory, so restarts keep it; in memory without one.
 */
export class RegistrationMemory {
  /** Used only without a file (no user directory). */
  private readonly inMemory = new Map<string, string>();

  constructor(
    private readonly file: string | undefined,
    private readonly warn: (message: string) => void,
  ) {}

  fingerprintOf(automationId: string): string | undefined {
    return this.load().get(automationId);
  }

  async remember(automationId: string, fingerprint: string): Promise<void> {
    const map = this.load();
    map.set(automationId, fingerprint);
    await this.save(map);
  }

  async forget(automationIds: readonly string[]): Promise<void> {
    const map = this.load();
    let changed = false;
    for (const id of automationIds) changed = map.delete(id) || changed;
    if (changed) await this.save(map);
  }

  /**
   * Read afresh each time (it is a few lines, and registration is rare): the deploy and the editor's
   * "Register now" may each hold one of these for the same connection, one after the other.
   */
  private load(): Map<string, string> {
    if (!this.file) return this.inMemory;
    const map = new Map<string, string>();
    const text = readTextIfExists(this.file);
    if (text === undefined) return map;
    try {
      const parsed: unknown = JSON.parse(text);
      if (isPlainObject(parsed)) {
        for (const [id, fingerprint] of Object.entries(parsed)) {
          if (typeof fingerprint === "string") map.set(id, fingerprint);
        }
      }
    } catch (error) {
      this.warn(
        `registration memory was unreadable (${errorMessage(error)}); registered automations are checked again`,
      );
    }
    return map;
  }

  private async save(map: Map<string, string>): Promise<void> {
    if (this.file) await writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(map)));
  }
}

/** A short, one-way digest of what a webhook action sends to. */
export function webhookFingerprint(url: string, method: string): string {
  return createHash("sha256").update(`${method} ${url}`, "utf8").digest("hex").slice(0, 32);
}
