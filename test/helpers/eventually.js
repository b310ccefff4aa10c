// Awaits a condition that has no event to wait for (a key's expiry in Redis, a server's client list): asked
// again every `everyMs`, bounded by `timeoutMs`, never a fixed sleep.
const { setTimeout: pause } = require("node:timers/promises");

/** Resolves once `condition()` (sync or async) is true; rejects after `timeoutMs` naming `what`. */
async function eventually(condition, { timeoutMs = 10_000, everyMs = 25, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await pause(everyMs);
  }
}

module.exports = { eventually };
