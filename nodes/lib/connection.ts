import path from "node:path";

import type { Node } from "node-red";

import { DedupeStore } from "./dedupe-store";
import { isKnownEvent } from "./events";
import type { ExpectedIdentity } from "./clarus-headers";
import { SecretMatcher } from "./secret";
import type { AutomationMapping, ConnectionCredentials, ConnectionDef } from "./types";

export const DEFAULT_API_URL = "https://clarus-api.com";
export const DEFAULT_DEDUPE_HOURS = 72;
export const DEFAULT_DEDUPE_CAPACITY = 100_000;

export interface ConnectionEnvironment {
  /** Node-RED's user directory; the dedupe store lives under it. Undefined keeps the store in memory. */
  userDir?: string;
  warn: (message: string) => void;
}

/**
 * What a `clarus-connection` shares with every node that uses it: the tenant's identity, the webhook
 * secret, the automation map and the one dedupe store (DESIGN.md `clarus-connection`).
 */
export class ConnectionServices {
  readonly subdomain: string;
  readonly domain: string;
  readonly apiUrl: string;
  readonly dedupe: DedupeStore;
  readonly webhookToken?: SecretMatcher;
  private readonly automationEvents = new Map<string, string>();

  constructor(def: ConnectionDef, credentials: ConnectionCredentials, env: ConnectionEnvironment) {
    this.subdomain = (def.subdomain ?? "").trim();
    this.domain = (def.domain ?? "").trim();
    this.apiUrl = (def.apiUrl ?? "").trim() || DEFAULT_API_URL;
    const token = credentials.webhookToken?.trim();
    if (token) this.webhookToken = new SecretMatcher(token);
    for (const mapping of validMappings(def.automations, env.warn)) {
      this.automationEvents.set(mapping.id, mapping.event);
    }
    const hours = positiveNumber(def.dedupeHours, DEFAULT_DEDUPE_HOURS);
    const capacity = Math.floor(positiveNumber(def.dedupeCapacity, DEFAULT_DEDUPE_CAPACITY));
    this.dedupe = new DedupeStore({
      ttlMs: hours * 3_600_000,
      capacity,
      file: env.userDir ? path.join(env.userDir, "clarus", `dedupe-${safeFileName(def.id)}`) : undefined,
      warn: env.warn,
    });
  }

  automationEvent(automationId: string): string | undefined {
    return this.automationEvents.get(automationId);
  }

  expectedIdentity(automationIds: ReadonlySet<string>): ExpectedIdentity {
    return { subdomain: this.subdomain, domain: this.domain, apiDomain: this.apiUrl, automationIds };
  }

  async close(removed: boolean): Promise<void> {
    await this.dedupe.close(removed);
  }
}

export type ClarusConnectionNode = Node<ConnectionCredentials> & { services: ConnectionServices };

function validMappings(value: unknown, warn: (message: string) => void): AutomationMapping[] {
  if (!Array.isArray(value)) return [];
  const mappings: AutomationMapping[] = [];
  for (const entry of value) {
    const id = String((entry as Partial<AutomationMapping>)?.id ?? "").trim();
    const event = String((entry as Partial<AutomationMapping>)?.event ?? "").trim();
    if (!/^\d+$/.test(id) || event === "") {
      warn(`automation map entry ${JSON.stringify(entry)} ignored: it needs a numeric id and an event`);
      continue;
    }
    if (!isKnownEvent(event)) warn(`automation ${id} maps to ${event}, which is not a known Clarus event`);
    mappings.push({ id, event });
  }
  return mappings;
}

function positiveNumber(value: unknown, fallback: number): number {
  const number = Number(value);
  return Number.isFinite(number) && number > 0 ? number : fallback;
}

function safeFileName(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, "_");
}
