import { raceSignal } from "../api/abort";
import { ClarusApiError, type ClarusClient } from "../api/client";
import { isPlainObject } from "../json";
import { errorMessage } from "../node-red/errors";
import { documentedSchema } from "./documented-schema";
import { modelFromIntrospection, type SchemaModel } from "./schema-model";

/**
 * Only what the planners read: type kinds and names, fields with their arguments and types, input
 * fields. No descriptions, directives or enum values, so even a large schema is a modest answer.
 */
export const INTROSPECTION_QUERY = `query ClarusSchema {
  __schema {
    queryType { name }
    types {
      kind name
      fields(includeDeprecated: true) { name args { name type { ...ClarusTypeRef } } type { ...ClarusTypeRef } }
      inputFields { name type { ...ClarusTypeRef } }
    }
  }
}
fragment ClarusTypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }
}`;

export interface SchemaReading {
  model: SchemaModel;
  /** Why the documented fields are used instead of the tenant's schema, when they are. */
  fallbackReason?: string;
  /** How many types the introspection answer had. */
  types?: number;
}

/** How long a fallback to the documented fields stands before introspection is tried again. */
export const FALLBACK_REREAD_MS = 3_600_000;

export interface TenantSchemaOptions {
  now?: () => number;
  fallbackRereadMs?: number;
}

/**
 * The tenant's schema for one connection: read by introspection once, shared by every node and by
 * concurrent callers (one request), and read again after `invalidate()` (a GraphQL validation error
 * says the schema changed). When the tenant refuses introspection (GraphQL errors, a 4xx that is no
 * passing condition, an answer that is no schema), the documented fields are used, and introspection is
 * tried again once the fallback is `fallbackRereadMs` old: a refusal may have been a tenant's bad hour.
 * Failures that may pass (network, 5xx, 429, 408, timeouts, credentials) are not remembered: the next
 * caller asks again, and while a fallback is held it keeps serving.
 */
export class TenantSchema {
  private reading?: Promise<SchemaReading>;
  /** The documented fallback in use and when it was settled on; undefined while introspection serves. */
  private fallback?: { reading: SchemaReading; since: number };
  private rereading = false;
  private readonly now: () => number;
  private readonly fallbackRereadMs: number;

  constructor(
    private readonly client: ClarusClient,
    options: TenantSchemaOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.fallbackRereadMs = options.fallbackRereadMs ?? FALLBACK_REREAD_MS;
  }

  read(signal?: AbortSignal): Promise<SchemaReading> {
    if (!this.reading || this.fallbackDue()) this.reading = this.readOnce(this.fallback?.reading);
    return raceSignal(this.reading, signal);
  }

  invalidate(): void {
    this.reading = undefined;
    this.fallback = undefined;
  }

  private fallbackDue(): boolean {
    return (
      this.fallback !== undefined &&
      !this.rereading &&
      this.now() - this.fallback.since >= this.fallbackRereadMs
    );
  }

  /**
   * One introspection. With `held` (the fallback in use), a failure keeps it, and a second refusal keeps
   * the same reading, so the nodes that planned on it neither plan nor warn again.
   */
  private readOnce(held: SchemaReading | undefined): Promise<SchemaReading> {
    const startedAt = this.now();
    this.rereading = held !== undefined;
    const reading: Promise<SchemaReading> = introspect(this.client).then(
      (fresh) => {
        const current = this.reading === reading;
        if (current) this.rereading = false;
        if (fresh.fallbackReason === undefined) {
          if (current) this.fallback = undefined;
          return fresh;
        }
        const kept = held ?? fresh;
        if (current) this.fallback = { reading: kept, since: startedAt };
        return kept;
      },
      (error: unknown) => {
        if (this.reading !== reading) throw error;
        this.rereading = false;
        // Held: still due, so the next caller tries again. Not held: forgotten, so the next caller asks.
        if (held) return held;
        this.reading = undefined;
        throw error;
      },
    );
    return reading;
  }
}

/** Reads the schema once, without a caller's signal: the request is shared, so one caller's abort must not end it. */
export async function introspect(client: ClarusClient): Promise<SchemaReading> {
  let data: unknown;
  try {
    data = await client.graphql(INTROSPECTION_QUERY);
  } catch (error) {
    if (!refused(error)) throw error;
    return documented(`introspection refused: ${errorMessage(error)}`);
  }
  try {
    const model = modelFromIntrospection(data);
    const schema = isPlainObject(data) && isPlainObject(data.__schema) ? data.__schema : {};
    return { model, types: Array.isArray(schema.types) ? schema.types.length : 0 };
  } catch (error) {
    return documented(`introspection answered something that is not a schema (${errorMessage(error)})`);
  }
}

function documented(fallbackReason: string): SchemaReading {
  return { model: documentedSchema(), fallbackReason };
}

/** Answers that say "not now" rather than "no": the request timed out, came too early, or too often. */
const TRANSIENT_STATUSES = new Set([408, 425, 429]);

/**
 * The tenant said no to introspection (GraphQL errors, an HTTP 4xx, an answer that is not GraphQL), as
 * opposed to a failure that may pass (5xx, 408, 425, 429, network, timeout, credentials) or a connection
 * that is wrong for every request (a subdomain Clarus does not know).
 */
function refused(error: unknown): boolean {
  if (!(error instanceof ClarusApiError)) return false;
  if (error.kind === "graphql") return true;
  if (error.kind !== "http" || error.status === undefined || error.reason === "subdomain") return false;
  return error.status < 500 && !TRANSIENT_STATUSES.has(error.status);
}

const VALIDATION_MESSAGE =
  /Cannot query field|Unknown (argument|type)|is not defined by type|of required type|Variable "\$[^"]*" of type|Expected type|Field "[^"]*" must not have a selection|must have a selection of subfields/;

/**
 * A GraphQL error that says the query does not fit the schema (validation), as opposed to one met while
 * running it: the schema the planner read is out of date.
 */
export function isSchemaMismatch(error: unknown): boolean {
  if (!(error instanceof ClarusApiError) || error.kind !== "graphql") return false;
  return (error.graphqlErrors ?? []).some(
    (e) => isPlainObject(e) && e.path === undefined && VALIDATION_MESSAGE.test(String(e.message ?? "")),
  );
}
