import { ErrorReply } from "@redis/client";

import { errorMessage } from "../../node-red/errors";

/**
 * Redis error replies that mean "cannot answer now" (loading, busy, failover, memory, persistence, auth or
 * permission changed): the store rejects with StoreUnavailableError and callers wait or answer 503. Any other
 * error reply is a fault in this package (a script bug) and stays an ordinary error.
 */
const UNAVAILABLE_REPLIES =
  /^(LOADING|BUSY|MASTERDOWN|READONLY|OOM|MISCONF|NOAUTH|WRONGPASS|NOPERM|TRYAGAIN|CLUSTERDOWN)\b/;

export function isUnavailableReply(error: unknown): boolean {
  return error instanceof ErrorReply && UNAVAILABLE_REPLIES.test(error.message);
}

/** Node's TLS error codes that mean the certificate was refused, not that the network failed. */
const CERTIFICATE_CODES =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_\w+|ERR_TLS_CERT_ALTNAME_INVALID|ERR_SSL_\w+)$/;

/** Why Redis cannot be used: a few words for the node status, and a sentence a user can act on for the log. */
export interface Cause {
  summary: string;
  detail: string;
}

export interface CauseContext {
  tls: boolean;
  /** Whether this connection ever worked: a plain client that never got in may be at a TLS-only port. */
  connectedBefore: boolean;
  secret?: string;
}

/**
 * Names the cause of a Redis failure. Never contains the password: node-redis does not put it in its errors,
 * and `secret` is blanked out anyway in case a future message quotes it.
 */
export function describeCause(error: unknown, context: CauseContext): Cause {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = errorMessage(error);
  const [summary, detail] = describe(message, typeof code === "string" ? code : undefined, context);
  // Blanking a very short password would mangle ordinary words; node-redis never quotes it anyway.
  const blank = (text: string) =>
    context.secret && context.secret.length >= 4 ? text.split(context.secret).join("***") : text;
  return { summary, detail: blank(detail) };
}

function describe(message: string, code: string | undefined, context: CauseContext): [string, string] {
  const { tls, connectedBefore } = context;
  const atOnce = !tls && !connectedBefore;
  if (/^WRONGPASS\b/.test(message)) {
    return ["wrong password", "authentication failed: wrong password (or user) in redisUrl"];
  }
  if (/^NOAUTH\b/.test(message)) {
    return ["password required", "Redis requires a password: put it in redisUrl (redis://:password@host)"];
  }
  if (/DB index is out of range/i.test(message)) {
    return [
      "no such database",
      "the database in redisUrl does not exist on this Redis (DB index is out of range)",
    ];
  }
  if (/^NOPERM\b/.test(message))
    return ["permission denied", `the Redis user lacks a permission: ${firstLine(message)}`];
  if (/^Unknown RESP type|Protocol error/i.test(message)) {
    return [
      "not a Redis server",
      "the server at redisUrl does not speak the Redis protocol (is it the right port?)",
    ];
  }
  if (code && CERTIFICATE_CODES.test(code)) {
    return ["TLS certificate refused", `TLS certificate refused: ${firstLine(message)} (${code})`];
  }
  if (code === "EPROTO" || /wrong version number|ssl3_get_record|packet length too long/i.test(message)) {
    return [
      "TLS handshake failed",
      "TLS handshake failed: the server does not speak TLS on this port (use redis:// for a plain port)",
    ];
  }
  if (code === "ECONNREFUSED") {
    return ["connection refused", "connection refused (is Redis running on that host and port?)"];
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return ["unknown host", "the host in redisUrl cannot be resolved"];
  }
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH") {
    return ["host unreachable", "the host in redisUrl cannot be reached"];
  }
  if (code === "ECONNRESET") {
    return [
      "connection reset",
      atOnce
        ? "the server reset the connection at once (a TLS-only port? then use rediss://)"
        : "the connection was reset by the server",
    ];
  }
  if (/Connection timeout/i.test(message)) {
    return [
      "connect timeout",
      tls
        ? "no TLS handshake within the connect timeout (is the port TLS-enabled? use redis:// if not)"
        : "no connection within the connect timeout",
    ];
  }
  if (/Socket timeout/i.test(message)) {
    return ["not answering", "Redis stopped answering (no reply within the response timeout)"];
  }
  if (/Socket closed unexpectedly/i.test(message)) {
    return [
      "connection closed",
      atOnce
        ? "the server closed the connection at once (a TLS-only port? then use rediss://)"
        : "the connection was closed by the server",
    ];
  }
  if (/^LOADING\b/.test(message)) return ["loading data", "Redis is loading its data set"];
  if (/^(READONLY|MASTERDOWN)\b/.test(message)) {
    return ["read-only", "Redis is a read-only replica or has no primary now"];
  }
  if (/^OOM\b/.test(message)) return ["out of memory", "Redis is out of memory (maxmemory reached)"];
  if (/^MISCONF\b/.test(message)) {
    return ["cannot save", "Redis refuses writes: it cannot save to disk (MISCONF)"];
  }
  return ["unavailable", firstLine(message) || "unknown error"];
}

function firstLine(text: string): string {
  return text.split("\n")[0].slice(0, 200);
}
