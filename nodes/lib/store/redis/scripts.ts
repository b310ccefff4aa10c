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
// the due sorted set of the entry's source node (pending entries only; the `source` hash names the node, the
// `sources` set lists the nodes with one), the attempt count and last error in hashes, dead letters in the
// `dead` sorted set (score: when they died). Due sets per source node let a delivery take only what it can
// send. Every time comes from Redis's clock (TIME), shared by all instances, never from an instance's own.
//
// Scripts that change one entry get its source node from the caller, who read it from the `source` hash
// ("" when none is recorded: the entry is still in the one due set of older versions); they answer -1 when
// the hash says otherwise by then, and the caller reads it again.

/** The epoch milliseconds of Redis's clock, as `now`. */
const NOW = `
local clock = redis.call("TIME")
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`;

/**
 * KEYS: claim, entries, due, attempts, source, sources, admitted. ARGV: dedupe key, claim TTL ms, entry JSON,
 * redeliver ms, source node. 1 = fresh (claimed and pending), 0 = duplicate. One script, so a failed write
 * never leaves a claim behind.
 */
export const ADMIT = new LuaScript(
  "admit",
  `
if redis.call("HEXISTS", KEYS[2], ARGV[1]) == 1 then return 0 end
if not redis.call("SET", KEYS[1], "1", "NX", "PX", ARGV[2]) then return 0 end
${NOW}
redis.call("HSET", KEYS[2], ARGV[1], ARGV[3])
redis.call("HSET", KEYS[4], ARGV[1], 1)
redis.call("HSET", KEYS[5], ARGV[1], ARGV[5])
redis.call("ZADD", KEYS[3], now + tonumber(ARGV[4]), ARGV[1])
redis.call("SADD", KEYS[6], ARGV[5])
redis.call("ZADD", KEYS[7], now, ARGV[1])
return 1
`,
);

/**
 * KEYS: entries, due, attempts, errors, dead, source, sources, legacy due, admitted. ARGV: dedupe key, source node,
 * "dead" to drop only a dead letter (a discard: a pending entry of the key stays). 1 = was in the inbox.
 */
export const CONFIRM = new LuaScript(
  "confirm",
  `
if ARGV[3] == "dead" and not redis.call("ZSCORE", KEYS[5], ARGV[1]) then return 0 end
if (redis.call("HGET", KEYS[6], ARGV[1]) or "") ~= ARGV[2] then return -1 end
local existed = redis.call("HDEL", KEYS[1], ARGV[1])
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("ZREM", KEYS[8], ARGV[1])
redis.call("HDEL", KEYS[3], ARGV[1])
redis.call("HDEL", KEYS[4], ARGV[1])
redis.call("ZREM", KEYS[5], ARGV[1])
redis.call("HDEL", KEYS[6], ARGV[1])
redis.call("ZREM", KEYS[9], ARGV[1])
if ARGV[2] ~= "" and redis.call("ZCARD", KEYS[2]) == 0 then redis.call("SREM", KEYS[7], ARGV[2]) end
return existed
`,
);

/**
 * KEYS: due, errors, source. ARGV: dedupe key, delay ms, reason ("" = none), source node.
 * 1 = pending and rescheduled.
 */
export const RETRY = new LuaScript(
  "retry",
  `
if (redis.call("HGET", KEYS[3], ARGV[1]) or "") ~= ARGV[4] then return -1 end
if not redis.call("ZSCORE", KEYS[1], ARGV[1]) then return 0 end
${NOW}
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if ARGV[3] ~= "" then redis.call("HSET", KEYS[2], ARGV[1], ARGV[3]) end
return 1
`,
);

/**
 * KEYS: entries, attempts, errors, source, sources, then one due set per source node asked for.
 * ARGV: redeliver ms, limit, then per due set its source node and its grace ms (how long after its due time
 * an entry of it may be taken).
 * Takes the pending entries due now, the longest due first: each one's attempt is counted and its due time
 * moved on before the script returns, so no other caller or instance takes it again before then. Returns,
 * flat: the next due time, then per entry: key, entry JSON, attempt, last error ("" = none).
 */
export const TAKE_DUE = new LuaScript(
  "take-due",
  `
${NOW}
local nextDue = now + tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local candidates = {}
for set = 1, #KEYS - 5 do
  local grace = tonumber(ARGV[2 + 2 * set])
  local due = redis.call("ZRANGEBYSCORE", KEYS[5 + set], "-inf", now - grace, "WITHSCORES", "LIMIT", 0, limit)
  for i = 1, #due, 2 do
    candidates[#candidates + 1] = { due[i], tonumber(due[i + 1]) + grace, set }
  end
end
table.sort(candidates, function(x, y) return x[2] < y[2] end)
local taken = { nextDue }
for c = 1, math.min(limit, #candidates) do
  local key, set = candidates[c][1], candidates[c][3]
  local due = KEYS[5 + set]
  local entry = redis.call("HGET", KEYS[1], key)
  if entry then
    taken[#taken + 1] = key
    taken[#taken + 1] = entry
    taken[#taken + 1] = redis.call("HINCRBY", KEYS[2], key, 1)
    taken[#taken + 1] = redis.call("HGET", KEYS[3], key) or ""
    redis.call("ZADD", due, nextDue, key)
  else
    redis.call("ZREM", due, key)
    redis.call("HDEL", KEYS[4], key)
    if redis.call("ZCARD", due) == 0 then redis.call("SREM", KEYS[5], ARGV[1 + 2 * set]) end
  end
end
return taken
`,
);

/**
 * KEYS: due, errors, dead, source, sources, admitted. ARGV: dedupe key, reason, source node.
 * 1 = was pending, now a dead letter.
 */
export const MARK_DEAD = new LuaScript(
  "mark-dead",
  `
if (redis.call("HGET", KEYS[4], ARGV[1]) or "") ~= ARGV[3] then return -1 end
if redis.call("ZREM", KEYS[1], ARGV[1]) == 0 then return 0 end
${NOW}
redis.call("HSET", KEYS[2], ARGV[1], ARGV[2])
redis.call("ZADD", KEYS[3], now, ARGV[1])
redis.call("HDEL", KEYS[4], ARGV[1])
redis.call("ZREM", KEYS[6], ARGV[1])
if ARGV[3] ~= "" and redis.call("ZCARD", KEYS[1]) == 0 then redis.call("SREM", KEYS[5], ARGV[3]) end
return 1
`,
);

/**
 * KEYS: legacy due, entries, source, sources, errors, dead, then one due set per source node. ARGV: the reason
 * for an entry that cannot be read, then per entry: dedupe key, its due set's number (0: it cannot be read,
 * so it becomes a dead letter), its source node. Moves entries from the one due set of older versions into
 * the due sets of their source nodes, due times kept. Returns how many it moved.
 */
export const MOVE_LEGACY_DUE = new LuaScript(
  "move-legacy-due",
  `
${NOW}
local moved = 0
for i = 2, #ARGV, 3 do
  local key, set, source = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local score = redis.call("ZSCORE", KEYS[1], key)
  if score then
    redis.call("ZREM", KEYS[1], key)
    if redis.call("HEXISTS", KEYS[2], key) == 1 then
      if set == 0 then
        redis.call("HSET", KEYS[5], key, ARGV[1])
        redis.call("ZADD", KEYS[6], now, key)
      else
        redis.call("ZADD", KEYS[6 + set], score, key)
        redis.call("HSET", KEYS[3], key, source)
        redis.call("SADD", KEYS[4], source)
      end
      moved = moved + 1
    end
  end
end
return moved
`,
);

/**
 * KEYS: admitted, entries, dead. The age in ms of the oldest pending entry by Redis's clock (-1: none), then
 * the sizes of admitted, entries and dead. Members whose entry is gone or dead (left by a version before the
 * admitted set, or by a taken entry that had vanished) are dropped on the way, a bounded number per call.
 */
export const OLDEST_PENDING = new LuaScript(
  "oldest-pending",
  `
${NOW}
local age = -1
for i = 1, 100 do
  local first = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
  if #first == 0 then break end
  if redis.call("HEXISTS", KEYS[2], first[1]) == 1 and not redis.call("ZSCORE", KEYS[3], first[1]) then
    age = math.max(0, now - tonumber(first[2]))
    break
  end
  redis.call("ZREM", KEYS[1], first[1])
end
return { age, redis.call("ZCARD", KEYS[1]), redis.call("HLEN", KEYS[2]), redis.call("ZCARD", KEYS[3]) }
`,
);

/**
 * KEYS: admitted, entries, dead. ARGV: per entry, dedupe key and admission time (epoch ms). Adds the pending
 * entries an older version admitted without the admitted set; one already there keeps its score.
 */
export const TRACK_ADMITTED = new LuaScript(
  "track-admitted",
  `
local added = 0
for i = 1, #ARGV, 2 do
  if redis.call("HEXISTS", KEYS[2], ARGV[i]) == 1 and not redis.call("ZSCORE", KEYS[3], ARGV[i]) then
    added = added + redis.call("ZADD", KEYS[1], "NX", tonumber(ARGV[i + 1]), ARGV[i])
  end
end
return added
`,
);

/**
 * KEYS: entries, attempts, errors, dead. ARGV: limit, offset. The oldest dead letters after the first `offset`,
 * flat, per entry: key, entry JSON, attempt, last error, when it died.
 */
export const DEAD_LETTERS = new LuaScript(
  "dead-letters",
  `
local first = tonumber(ARGV[2] or "0")
local dead = redis.call("ZRANGE", KEYS[4], first, first + tonumber(ARGV[1]) - 1, "WITHSCORES")
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

/**
 * KEYS: entries, dead, attempts, source, sources, due (of the new source), admitted. ARGV: dedupe key, the entry's
 * new JSON (marked replayed, maybe another source node), the source node. 1 = was a dead letter, now pending and
 * due now with no attempts counted; 0 = not a dead letter (never, or replayed by another caller first).
 */
export const REPLAY_DEAD = new LuaScript(
  "replay-dead",
  `
if not redis.call("ZSCORE", KEYS[2], ARGV[1]) then return 0 end
redis.call("ZREM", KEYS[2], ARGV[1])
if redis.call("HEXISTS", KEYS[1], ARGV[1]) == 0 then return 0 end
${NOW}
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
redis.call("HSET", KEYS[3], ARGV[1], 0)
redis.call("HSET", KEYS[4], ARGV[1], ARGV[3])
redis.call("SADD", KEYS[5], ARGV[3])
redis.call("ZADD", KEYS[6], now, ARGV[1])
redis.call("ZADD", KEYS[7], now, ARGV[1])
return 1
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
