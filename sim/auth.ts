import { randomBytes, timingSafeEqual } from "node:crypto";

/**
 * OAuth2 client credentials, the grant Clarus documents. Clarus does not document the token lifetime, so it
 * is an option; tokens are random (not seeded) because nothing a test measures depends on their value.
 */
export interface AuthOptions {
  clientId: string;
  clientSecret: string;
  tokenTtlSeconds: number;
  /** Accepted as a bearer token forever, like a pasted token; `expireTokens()` leaves it alone. */
  staticToken?: string;
  now: () => number;
}

export interface TokenGrant {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  created_at: number;
  scope: string;
}

export interface TokenError {
  status: 400 | 401;
  body: { error: string; error_description: string };
  basic?: boolean;
}

export type TokenRequestResult = { status: 200; body: TokenGrant } | TokenError;

export interface ClientCredentials {
  grantType?: string;
  clientId?: string;
  clientSecret?: string;
  /** True when the client authenticated with HTTP Basic (the 401 then carries a Basic challenge). */
  basic: boolean;
}

export class TokenAuthority {
  private readonly tokens = new Map<string, number>();

  constructor(private readonly options: AuthOptions) {}

  get ttlSeconds(): number {
    return this.options.tokenTtlSeconds;
  }

  set ttlSeconds(seconds: number) {
    this.options.tokenTtlSeconds = seconds;
  }

  handleTokenRequest(creds: ClientCredentials): TokenRequestResult {
    if (!creds.grantType) return oauthError(400, "invalid_request", "grant_type is required");
    if (creds.grantType !== "client_credentials") {
      return oauthError(400, "unsupported_grant_type", `grant_type "${creds.grantType}" is not supported`);
    }
    if (!creds.clientId || !creds.clientSecret) {
      return { ...oauthError(401, "invalid_client", "client authentication failed"), basic: creds.basic };
    }
    const idOk = safeEqual(creds.clientId, this.options.clientId);
    const secretOk = safeEqual(creds.clientSecret, this.options.clientSecret);
    if (!idOk || !secretOk) {
      return { ...oauthError(401, "invalid_client", "client authentication failed"), basic: creds.basic };
    }
    return { status: 200, body: this.issue() };
  }

  /** A fresh token, as the token endpoint would return it. */
  issue(): TokenGrant {
    const token = randomBytes(24).toString("base64url");
    const nowMs = this.options.now();
    this.tokens.set(token, nowMs + this.options.tokenTtlSeconds * 1000);
    return {
      access_token: token,
      token_type: "Bearer",
      // Rounded up so a sub-second test TTL still reads as a positive lifetime.
      expires_in: Math.ceil(this.options.tokenTtlSeconds),
      created_at: Math.floor(nowMs / 1000),
      scope: "",
    };
  }

  /** Why a bearer token is refused, or undefined when it is good. */
  check(token: string | undefined): string | undefined {
    if (!token) return "Missing bearer token";
    if (this.options.staticToken && safeEqual(token, this.options.staticToken)) return undefined;
    const expiresAt = this.tokens.get(token);
    if (expiresAt === undefined) return "Invalid access token";
    if (this.options.now() >= expiresAt) {
      this.tokens.delete(token);
      return "Access token expired";
    }
    return undefined;
  }

  expireAll(): number {
    const count = this.tokens.size;
    this.tokens.clear();
    return count;
  }
}

function oauthError(status: 400 | 401, error: string, description: string): TokenError {
  return { status, body: { error, error_description: description } };
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, "utf8");
  const right = Buffer.from(b, "utf8");
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Reads client credentials from a form or JSON body and from HTTP Basic, Basic winning (RFC 6749 §2.3.1). */
export function readClientCredentials(
  authorization: string | undefined,
  fields: Record<string, unknown>,
): ClientCredentials {
  const text = (value: unknown): string | undefined =>
    typeof value === "string" && value !== "" ? value : undefined;
  const creds: ClientCredentials = {
    grantType: text(fields.grant_type),
    clientId: text(fields.client_id),
    clientSecret: text(fields.client_secret),
    basic: false,
  };
  const match = /^Basic\s+(\S+)$/i.exec(authorization ?? "");
  if (match) {
    const decoded = Buffer.from(match[1] as string, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon >= 0) {
      creds.clientId = safeDecode(decoded.slice(0, colon));
      creds.clientSecret = safeDecode(decoded.slice(colon + 1));
      creds.basic = true;
    }
  }
  return creds;
}

/**
 * Basic credentials should be form-encoded before base64 (RFC 6749 §2.3.1), but most clients skip that;
 * percent escapes are decoded, a literal "+" is kept.
 */
function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
