/**
 * The Redis keys of one store, all under its prefix (`redisPrefix`, default `clarus:<subdomain>:`), so two
 * tenants or two Node-RED projects can share one Redis. Instances of one project share a prefix on purpose.
 */
export class RedisKeys {
  readonly entries: string;
  readonly due: string;
  readonly attempts: string;
  readonly errors: string;
  readonly dead: string;

  constructor(readonly prefix: string) {
    this.entries = `${prefix}inbox:entries`;
    this.due = `${prefix}inbox:due`;
    this.attempts = `${prefix}inbox:attempts`;
    this.errors = `${prefix}inbox:errors`;
    this.dead = `${prefix}inbox:dead`;
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

/** DESIGN.md `redisPrefix`: what the user set, else `clarus:<subdomain>:`. */
export function redisPrefix(configured: string | undefined, subdomain: string): string {
  const prefix = (configured ?? "").trim();
  if (prefix !== "") return prefix;
  return `clarus:${subdomain.trim() || "default"}:`;
}
