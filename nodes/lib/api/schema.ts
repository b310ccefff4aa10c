import { raceSignal } from "./abort";
import { ClarusApiError, type ClarusClient } from "./client";
import { documentedSchema } from "./documented-schema";
import { errorMessage } from "../node-red/errors";
import { isPlainObject } from "../json";
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

/**
 * The tenant's schema for one connection: read by introspection once, shared by every node and by
 * concurrent callers (one request), and read again after `invalidate()` (a GraphQL validation error
 * says the schema changed). When the tenant refuses introspection (GraphQL errors, HTTP 4xx, an answer
 * that is no schema), the documented fields are used. Failures that may pass (network, 5xx, timeouts,
 * credentials) are not remembered: the next caller asks again.
 */
export class TenantSchema {
  private reading?: Promise<SchemaReading>;

  constructor(private readonly client: ClarusClient) {}

  read(signal?: AbortSignal): Promise<SchemaReading> {
    if (!this.reading) {
      const reading = introspect(this.client);
      this.reading = reading;
      reading.catch(() => {
        if (this.reading === reading) this.reading = undefined;
      });
    }
    return raceSignal(this.reading, signal);
  }

  invalidate(): void {
    this.reading = undefined;
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

/**
 * The tenant said no to introspection (GraphQL errors, HTTP 4xx, an answer that is not GraphQL), as
 * opposed to a failure that may pass (5xx, network, timeout, credentials).
 */
function refused(error: unknown): boolean {
  if (!(error instanceof ClarusApiError)) return false;
  if (error.kind === "graphql") return true;
  return error.kind === "http" && error.status !== undefined && error.status < 500;
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
