import type { ClarusIdentity } from "../events/message";
import { printable } from "./identity-headers";

/** What one webhook-in node last saw Clarus send, for the connection's Test connection report. */
export interface ObservedWebhook {
  /** The webhook-in node's id and name. */
  node: string;
  name?: string;
  /** The identity headers of the last delivery that passed the token check, accepted or not. */
  last?: ObservedIdentity;
}

export interface ObservedIdentity {
  at: string;
  domain?: string;
  apiDomain?: string;
  subdomain?: string;
  automationId?: string;
  accepted: boolean;
  /** Why it was refused, with what the connection expected. */
  problem?: string;
}

/**
 * The identity headers each webhook-in node of a connection last saw, after its token check (so a caller
 * without the token cannot put values here). One entry per node: bounded by the flows, not by traffic.
 */
export class ObservedIdentities {
  private readonly nodes = new Map<string, SeenBy>();

  register(node: string, name?: string): void {
    this.nodes.set(node, { node, name: name || undefined });
  }

  forget(node: string): void {
    this.nodes.delete(node);
  }

  /** Called on every delivery: it keeps what it was given, and `list()` formats it for the rare reader. */
  record(node: string, identity: ClarusIdentity, problem?: string): void {
    const entry = this.nodes.get(node);
    if (!entry) return;
    entry.last = { at: Date.now(), identity, problem };
  }

  list(): ObservedWebhook[] {
    return [...this.nodes.values()].map(({ node, name, last }) => ({
      node,
      name,
      last: last && {
        at: new Date(last.at).toISOString(),
        domain: shown(last.identity.domain),
        apiDomain: shown(last.identity.apiDomain),
        subdomain: shown(last.identity.subdomain),
        automationId: shown(last.identity.automationId),
        accepted: last.problem === undefined,
        problem: last.problem,
      },
    }));
  }
}

interface SeenBy {
  node: string;
  name?: string;
  last?: { at: number; identity: ClarusIdentity; problem?: string };
}

/** Header values as the user may see them: printable and short. */
function shown(value: string | undefined): string | undefined {
  return value === undefined ? undefined : printable(value);
}
