import { createHash } from "node:crypto";

import { isKnownEvent, KNOWN_EVENTS } from "../events/vocabulary";

/**
 * How registered automations are named: `node-red-clarus <node id> <event> @<installation mark>`. Node ids are
 * shared by every checkout of a project and every import of an example, so the name also carries a mark of the
 * installation (its public URL and httpNodeRoot): replicas behind one URL share it, staging and production of
 * the same flow do not, and neither ever takes the other's automations for its own. An earlier version named
 * them without the mark; such a name is read as "no mark".
 */
export const NAME_PREFIX = "node-red-clarus ";

/** What registers: the installation's mark and the address every URL it registers starts with. */
export interface Installation {
  /** A short digest of `address`. */
  mark: string;
  /** `<publicUrl><httpNodeRoot>`, normalised: the webhook URLs this installation registers all start with it. */
  address: string;
}

const MARK_LENGTH = 8;
const MARK = new RegExp(`^@([0-9a-f]{${MARK_LENGTH}})$`);

export function installationOf(address: string): Installation {
  const mark = createHash("sha256").update(address, "utf8").digest("hex").slice(0, MARK_LENGTH);
  return { mark, address };
}

export function automationName(nodeId: string, event: string, installation: Installation): string {
  return `${legacyAutomationName(nodeId, event)} @${installation.mark}`;
}

/** The name an earlier version gave: no installation mark. */
export function legacyAutomationName(nodeId: string, event: string): string {
  return `${NAME_PREFIX}${nodeId} ${event}`;
}

/** What a name tells of an automation of node `nodeId`: its event and mark (undefined: an earlier version's). */
export interface NameParts {
  event: string;
  mark?: string;
}

/** Reads a name as registration writes it for `nodeId`; undefined for any other name. */
export function parseAutomationName(name: string, nodeId: string): NameParts | undefined {
  const prefix = `${NAME_PREFIX}${nodeId} `;
  if (!name.startsWith(prefix)) return undefined;
  const [event, mark, ...rest] = name.slice(prefix.length).split(" ");
  if (event === undefined || !isKnownEvent(event) || rest.length > 0) return undefined;
  if (mark === undefined) return { event };
  const matched = MARK.exec(mark);
  return matched ? { event, mark: matched[1] } : undefined;
}

/**
 * Every exact name the node's automations of this installation can have: with its mark, and without (an
 * earlier version's), for every known event. Looked up with `in`, which needs no pattern semantics.
 */
export function exactNames(nodeId: string, installation: Installation | undefined): string[] {
  return [...KNOWN_EVENTS].flatMap((event) => [
    legacyAutomationName(nodeId, event),
    ...(installation ? [automationName(nodeId, event, installation)] : []),
  ]);
}

/**
 * A SQL LIKE pattern matching every name of the node's automations, whatever their mark. The node id's own `%`,
 * `_` and `\` become `_` (any one character), so the pattern needs no escape rule; it matches at least what it
 * must, and the names found are then read exactly.
 */
export function namePattern(nodeId: string): string {
  return `${NAME_PREFIX}${nodeId.replace(/[%_\\]/g, "_")} %`;
}
