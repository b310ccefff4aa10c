import type { AutomationDetails } from "./documents";
import type { Installation } from "./names";

/** One automation named for the node, as the lookup found it. */
export interface Found {
  id: string;
  name: string;
  event: string;
  enabled: boolean;
  /** The installation mark in its name; undefined: named by an earlier version, without one. */
  mark?: string;
}

/** One of this installation's own; `details` when they were read to prove it. */
export interface Owned extends Found {
  details?: AutomationDetails;
}

/**
 * Why an automation named for the node is not touched:
 * - `another-installation`: its name carries another installation's mark;
 * - `posts-elsewhere`: an earlier version named it (no mark) and its webhook posts to another address;
 * - `unproven`: an earlier version named it, where it posts is not known (Clarus does not show it, or there is
 *   no public URL to compare), and this installation's registration memory does not know it.
 */
export type LeftAloneReason = "another-installation" | "posts-elsewhere" | "unproven";

export interface LeftAlone {
  automationId: string;
  name: string;
  reason: LeftAloneReason;
  /** This installation's registration memory knows it: registered here under an earlier public URL. */
  remembered?: boolean;
}

/** Whose the node's automations are, from what the lookup found. */
export interface Ownership {
  ours: Owned[];
  leftAlone: LeftAlone[];
}

/** What can prove an automation this installation's. */
export interface OwnershipEvidence {
  /** This installation is the node's (its mark, and the URL at or below which the node listens here). */
  installation?: Installation;
  listensAt?: string;
  /** Whether this installation's registration memory knows the automation id. */
  remembers(automationId: string): Promise<boolean>;
  /** The automation's actions where Clarus shows them; undefined where it does not. */
  read(automationId: string): Promise<AutomationDetails | undefined>;
}

/**
 * Sorts the node's automations into this installation's own and the others. One carrying this installation's
 * mark is its own; one carrying another mark is never. One without a mark (an earlier version's) is adopted only
 * when it is provably this installation's: where Clarus shows its webhook URL, that URL decides (it posts to
 * this node here); where it does not, the registration memory in this installation's store must know its id.
 * Without a public URL there is no mark of its own, and only what the memory knows counts.
 */
export async function sortOut(found: readonly Found[], evidence: OwnershipEvidence): Promise<Ownership> {
  const ours: Owned[] = [];
  const leftAlone: LeftAlone[] = [];
  const leave = (automation: Found, reason: LeftAloneReason, remembered: boolean): void => {
    leftAlone.push({
      automationId: automation.id,
      name: automation.name,
      reason,
      ...(remembered ? { remembered } : {}),
    });
  };
  for (const automation of found) {
    const { installation } = evidence;
    if (automation.mark !== undefined) {
      if (installation ? automation.mark === installation.mark : await evidence.remembers(automation.id)) {
        ours.push(automation);
      } else {
        leave(automation, "another-installation", await evidence.remembers(automation.id));
      }
      continue;
    }
    const details = evidence.listensAt ? await evidence.read(automation.id) : undefined;
    if (details) {
      if (postsTo(details, evidence.listensAt as string)) ours.push({ ...automation, details });
      else leave(automation, "posts-elsewhere", await evidence.remembers(automation.id));
    } else if (await evidence.remembers(automation.id)) {
      ours.push(automation);
    } else {
      leave(automation, "unproven", false);
    }
  }
  return { ours, leftAlone };
}

/** Whether a webhook action posts at or below `listensAt` (the node's URL, with or without its token). */
function postsTo(details: AutomationDetails, listensAt: string): boolean {
  return details.webhookActions.some((action) =>
    action.parameters.some(
      (p) => p.code === "webhook_url" && (p.value === listensAt || p.value.startsWith(`${listensAt}/`)),
    ),
  );
}

/** One line per kind of automation left alone, saying whose they are and what to do. */
export function describeLeftAlone(automations: readonly LeftAlone[]): string[] {
  const groups = new Map<string, LeftAlone[]>();
  for (const automation of automations) {
    const key = `${automation.reason}${automation.remembered ? "+remembered" : ""}`;
    groups.set(key, [...(groups.get(key) ?? []), automation]);
  }
  return [...groups.values()].map((group) => {
    const [first] = group as [LeftAlone, ...LeftAlone[]];
    const list = group.map((a) => `${a.automationId} (${a.name})`).join(", ");
    const one = group.length === 1;
    const what = `${one ? "automation" : "automations"} ${list}`;
    const [is, them, they] = one ? ["is", "it", "it"] : ["are", "them", "they"];
    switch (first.reason) {
      case "another-installation":
        return first.remembered
          ? `${what} ${one ? "carries" : "carry"} another Node-RED installation's mark, though this installation registered ${them} (was its public URL or httpNodeRoot changed?): left alone; delete ${them} in Clarus if nothing uses ${them}`
          : `${what} ${is} another Node-RED installation's (another public URL or httpNodeRoot): left alone`;
      case "posts-elsewhere":
        return `${what}, named by an earlier version, ${one ? "posts" : "post"} to another address, so ${they} ${is} taken for another installation's: left alone`;
      case "unproven":
        return `${what}, named by an earlier version, ${is} not known to be this installation's (neither where ${they} ${one ? "posts" : "post"} nor this installation's registration memory shows it): left alone; delete ${them} in Clarus if ${one ? "it is an old one" : "they are old ones"} of this installation`;
    }
  });
}
