import { createHash } from "node:crypto";

import { ErrorReply } from "@redis/client";

import type { StoreClient } from "./connection";

/**
 * A Lua script run by EVALSHA, sent whole (EVAL) only when Redis does not have it cached yet (first use, after
 * a restart or SCRIPT FLUSH). Every key a script touches is passed in KEYS, none is built inside it.
 */
export class LuaScript {
  private readonly sha1: string;

  constructor(
    readonly name: string,
    private readonly source: string,
  ) {
    this.sha1 = createHash("sha1").update(source).digest("hex");
  }

  async run(client: StoreClient, keys: string[], args: (string | number)[]): Promise<unknown> {
    const options = { keys, arguments: args.map(String) };
    try {
      return await client.evalSha(this.sha1, options);
    } catch (error) {
      if (!(error instanceof ErrorReply) || !error.message.startsWith("NOSCRIPT")) throw error;
      return client.eval(this.source, options);
    }
  }
}

// Claims (connection-store.ts claim, release): the key holds a token that only the claiming process knows, so
// that process can tell its own claim from another's when a reply was lost on its way back (Redis ran the
// command, the caller answered 503): its claim must not make Clarus's retry a duplicate.

/**
 * KEYS: claim. ARGV: new token, TTL ms, then this process's tokens whose claim of this key had no reply.
 * 1 = claimed: the key was free or held one of those tokens (the event was answered 503, never sent); 0 = held.
 */
export const CLAIM_OVER = new LuaScript(
  "claim-over",
  `
local held = redis.call("GET", KEYS[1])
if held then
  local ours = false
  for i = 3, #ARGV do
    if held == ARGV[i] then ours = true end
  end
  if not ours then return 0 end
end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return 1
`,
);

/** KEYS: claim. ARGV: tokens of this process. 1 = it held one of them and is deleted. */
export const DELETE_OWN_CLAIM = new LuaScript(
  "delete-own-claim",
  `
local held = redis.call("GET", KEYS[1])
if not held then return 0 end
for i = 1, #ARGV do
  if held == ARGV[i] then return redis.call("DEL", KEYS[1]) end
end
return 0
`,
);

// The inbox of `on-confirm` (connection-store.ts): an entry's immutable part (source node, message, admission
// time) is one JSON value in the `entries` hash, written by Node.js and never decoded in Lua (cjson would turn
// empty arrays into objects and round long numbers); what changes lives in native types: the next due time in
// the `due` sorted set (pending entries only), the attempt count and last error in hashes, dead letters in the
// `dead` sorted set (score: when they died).

/**
 * KEYS: claim, entries, due, attempts. ARGV: dedupe key, claim TTL ms, entry JSON, first due time.
 * 1 = fresh (claimed and pending), 0 = duplicate. One script, so a failed write never leaves a claim behind.
 */
export const ADMIT = new LuaScript(
  "admit",
  `
if redis.call("HEXISTS", KEYS[2], ARGV[1]) == 1 then return 0 end
if not redis.call("SET", KEYS[1], "1", "NX", "PX", ARGV[2]) then return 0 end
redis.call("HSET", KEYS[2], ARGV[1], ARGV[3])
redis.call("HSET", KEYS[4], ARGV[1], 1)
redis.call("ZADD", KEYS[3], ARGV[4], ARGV[1])
return 1
`,
);

/** KEYS: entries, due, attempts, errors, dead. ARGV: dedupe key. 1 = was in the inbox. */
export const CONFIRM = new LuaScript(
  "confirm",
  `
local existed = redis.call("HDEL", KEYS[1], ARGV[1])
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("HDEL", KEYS[3], ARGV[1])
redis.call("HDEL", KEYS[4], ARGV[1])
redis.call("ZREM", KEYS[5], ARGV[1])
return existed
`,
);

/** KEYS: due, errors. ARGV: dedupe key, next due time, reason ("" = none). 1 = pending and rescheduled. */
export const RETRY = new LuaScript(
  "retry",
  `
if not redis.call("ZSCORE", KEYS[1], ARGV[1]) then return 0 end
redis.call("ZADD", KEYS[1], ARGV[2], ARGV[1])
if ARGV[3] ~= "" then redis.call("HSET", KEYS[2], ARGV[1], ARGV[3]) end
return 1
`,
);

/**
 * KEYS: entries, due, attempts, errors. ARGV: now, next due time, limit.
 * Takes the pending entries due at `now`: each one's attempt is counted and its due time moved on before the
 * script returns, so no other caller or instance takes it again before then. Returns, flat, per entry: key,
 * entry JSON, attempt, last error ("" = none).
 */
export const TAKE_DUE = new LuaScript(
  "take-due",
  `
local keys = redis.call("ZRANGEBYSCORE", KEYS[2], "-inf", ARGV[1], "LIMIT", 0, ARGV[3])
local taken = {}
for _, key in ipairs(keys) do
  local entry = redis.call("HGET", KEYS[1], key)
  if entry then
    local attempt = redis.call("HINCRBY", KEYS[3], key, 1)
    redis.call("ZADD", KEYS[2], ARGV[2], key)
    taken[#taken + 1] = key
    taken[#taken + 1] = entry
    taken[#taken + 1] = attempt
    taken[#taken + 1] = redis.call("HGET", KEYS[4], key) or ""
  else
    redis.call("ZREM", KEYS[2], key)
  end
end
return taken
`,
);

/** KEYS: due, errors, dead. ARGV: dedupe key, reason, now. 1 = was pending, now a dead letter. */
export const MARK_DEAD = new LuaScript(
  "mark-dead",
  `
if redis.call("ZREM", KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call("HSET", KEYS[2], ARGV[1], ARGV[2])
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1])
return 1
`,
);

/**
 * KEYS: entries, attempts, errors, dead. ARGV: limit. The oldest dead letters, flat, per entry: key, entry
 * JSON, attempt, last error, when it died.
 */
export const DEAD_LETTERS = new LuaScript(
  "dead-letters",
  `
local dead = redis.call("ZRANGE", KEYS[4], 0, tonumber(ARGV[1]) - 1, "WITHSCORES")
local out = {}
for i = 1, #dead, 2 do
  local key = dead[i]
  local entry = redis.call("HGET", KEYS[1], key)
  if entry then
    out[#out + 1] = key
    out[#out + 1] = entry
    out[#out + 1] = redis.call("HGET", KEYS[2], key) or "0"
    out[#out + 1] = redis.call("HGET", KEYS[3], key) or ""
    out[#out + 1] = dead[i + 1]
  end
end
return out
`,
);

// Leases (connection-store.ts acquireLease): a random token in one key with a TTL; only the holder of the token
// may extend or delete it, so an instance whose lease expired and was taken cannot disturb the new holder.

/** KEYS: lease. ARGV: token, TTL ms. 1 = still ours, extended. */
export const RENEW_LEASE = new LuaScript(
  "renew-lease",
  `
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return 1
`,
);

/** KEYS: lease. ARGV: token. 1 = was ours, deleted. */
export const RELEASE_LEASE = new LuaScript(
  "release-lease",
  `
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call("DEL", KEYS[1])
`,
);
