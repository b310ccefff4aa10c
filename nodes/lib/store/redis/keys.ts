/**
 * The Redis keys of one store, all under its prefix (`redisPrefix`, default `clarus:<subdomain>:`), so two
 * tenants or two Node-RED projects can share one Redis. Instances of one project share a prefix on purpose.
 */
export class RedisKeys {
  readonly entries: string;
  /** Each pending entry's source node, which names the due set it is in. */
  readonly sourceOf: string;
  /** The source nodes that have a due set. */
  readonly sources: string;
  /**
   * The one due set of every source, as versions before the per-source sets kept it: read and emptied into
   * those, so pending entries of an older version (or of an older instance in a rolling deploy) are still sent.
   */
  readonly legacyDue: string;
  readonly attempts: string;
  readonly errors: string;
  readonly dead: string;
  /**
   * Pending entries by admission time (score: Redis's clock at admission), for the oldest pending age: the due
   * sets are per source node and ordered by due time, which a retry or redelivery moves on.
   */
  readonly admitted: string;

  constructor(readonly prefix: string) {
    this.entries = `${prefix}inbox:entries`;
    this.sourceOf = `${prefix}inbox:source`;
    this.sources = `${prefix}inbox:sources`;
    this.legacyDue = `${prefix}inbox:due`;
    this.attempts = `${prefix}inbox:attempts`;
    this.errors = `${prefix}inbox:errors`;
    this.dead = `${prefix}inbox:dead`;
    this.admitted = `${prefix}inbox:admitted`;
  }

  /**
   * The due set of one source node's pending entries: a delivery takes only from the sets of nodes it can send
   * for. `null` (an entry whose source is not recorded: not moved out of the old set yet) is that old set.
   */
  due(sourceNodeId: string | null): string {
    return sourceNodeId === null ? this.legacyDue : `${this.prefix}inbox:due:${sourceNodeId}`;
  }

  claim(dedupeKey: string): string {
    return `${this.prefix}claim:${dedupeKey}`;
  }

  document(name: string): string {
    return `${this.prefix}doc:${name}`;
  }

  lease(name: string): string {
    return `${this.prefix}lease:${name}`;
  }
}

/** The connection's `redisPrefix`: what the user set, else `clarus:<subdomain>:`, so tenants can share a Redis. */
export function redisPrefix(configured: string | undefined, subdomain: string): string {
  const prefix = (configured ?? "").trim();
  if (prefix !== "") return prefix;
  return `clarus:${subdomain.trim() || "default"}:`;
}
