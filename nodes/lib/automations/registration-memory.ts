import { createHash } from "node:crypto";

import { isPlainObject } from "../json";
import { errorMessage } from "../node-red/errors";
import { StoreUnavailableError } from "../store/connection-store";
import { type Documents, safeFileName } from "../store/connection-store";

/**
 * What webhook registration last wrote into each automation it manages, as a fingerprint of URL and method (never
 * the URL, which holds the token). Clarus documents no REST read of an automation's actions, so on a tenant
 * without one this is how a redeploy tells "unchanged" from "the token was rotated".
 * Kept as a document of the connection's store (`registrations-<connection id>`: a file in the Node-RED user
 * directory, or Redis, where every instance reads what any of them registered), so restarts keep it.
 */
export class RegistrationMemory {
  constructor(
    private readonly documents: Pick<Documents, "readDocument" | "writeDocument">,
    private readonly name: string,
    private readonly warn: (message: string) => void,
  ) {}

  async fingerprintOf(automationId: string): Promise<string | undefined> {
    return (await this.load()).get(automationId);
  }

  async remember(automationId: string, fingerprint: string): Promise<void> {
    const map = await this.load();
    map.set(automationId, fingerprint);
    await this.save(map);
  }

  async forget(automationIds: readonly string[]): Promise<void> {
    const map = await this.load();
    let changed = false;
    for (const id of automationIds) changed = map.delete(id) || changed;
    if (changed) await this.save(map);
  }

  /**
   * Read afresh each time (it is a few lines, and registration is rare): the deploy, the editor's "Register
   * now" and other instances may each change it, one after the other.
   */
  private async load(): Promise<Map<string, string>> {
    const map = new Map<string, string>();
    let value: unknown;
    try {
      value = await this.documents.readDocument(this.name);
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      this.warn(
        `registration memory was unreadable (${errorMessage(error)}); registered automations are checked again`,
      );
      return map;
    }
    if (isPlainObject(value)) {
      for (const [id, fingerprint] of Object.entries(value)) {
        if (typeof fingerprint === "string") map.set(id, fingerprint);
      }
    }
    return map;
  }

  private save(map: Map<string, string>): Promise<void> {
    return this.documents.writeDocument(this.name, Object.fromEntries(map));
  }
}

/** The registration memory's document name; on files, `clarus/registrations-<connection id>.json`. */
export function registrationMemoryName(connectionId: string): string {
  return `registrations-${safeFileName(connectionId)}`;
}

/** A short, one-way digest of what a webhook action sends to. */
export function webhookFingerprint(url: string, method: string): string {
  return createHash("sha256").update(`${method} ${url}`, "utf8").digest("hex").slice(0, 32);
}
