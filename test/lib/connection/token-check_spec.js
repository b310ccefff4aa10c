// TokenCheck: what the health endpoint says of a connection's API token, from a token request it never waits for
// longer than it is told, on a clock the test moves.
const assert = require("node:assert/strict");

const { TokenCheck, TOKEN_STALL_MS } = require("../../../build/nodes/lib/connection/token-check.js");

/** A token endpoint the test answers by hand, request by request. */
function endpoint() {
  const requests = [];
  return {
    requests,
    refresh: () =>
      new Promise((resolve, reject) => {
        requests.push({ resolve, reject });
      }),
  };
}

describe("TokenCheck", function () {
  let now;
  const clock = () => now;
  beforeEach(() => {
    now = 1_000_000;
  });

  it("should say unknown, not ok, while the first request has not answered, then what it answered", async function () {
    const api = endpoint();
    const check = new TokenCheck(api.refresh, { now: clock });
    assert.deepEqual(await check.check(5), {
      ok: false,
      state: "unknown",
      cause: "no answer yet from the Clarus token endpoint",
    });
    api.requests[0].resolve();
    assert.deepEqual(await check.check(5), { ok: true, state: "ready" });
    assert.equal(api.requests.length, 1);
  });

  it("should wait for a request that answers within the time it is given", async function () {
    const api = endpoint();
    const check = new TokenCheck(api.refresh, { now: clock });
    const answer = check.check(10_000);
    api.requests[0].reject(new Error("Clarus refused the client credentials (HTTP 401)"));
    assert.deepEqual(await answer, {
      ok: false,
      state: "unavailable",
      cause: "Clarus refused the client credentials (HTTP 401)",
    });
  });

  it("should ask again after a failure at once, and after a token only once intervalMs has passed", async function () {
    const api = endpoint();
    const check = new TokenCheck(api.refresh, { now: clock, intervalMs: 30_000 });
    const first = check.check(10_000);
    api.requests[0].reject(new Error("the Clarus API host cannot be reached (ECONNREFUSED)"));
    await first;
    const second = check.check(10_000);
    assert.equal(api.requests.length, 2, "a failure is checked again at the next probe");
    api.requests[1].resolve();
    assert.deepEqual(await second, { ok: true, state: "ready" });
    now += 29_999;
    assert.deepEqual(await check.check(10_000), { ok: true, state: "ready" });
    assert.equal(api.requests.length, 2, "within the interval the last answer stands");
    now += 1;
    const third = check.check(5);
    assert.equal(api.requests.length, 3);
    assert.deepEqual(await third, { ok: true, state: "ready" }, "unanswered yet: the last answer stands");
  });

  it("should keep one request at a time, and count one unanswered for the stall time as failing", async function () {
    const api = endpoint();
    const check = new TokenCheck(api.refresh, { now: clock, intervalMs: 1 });
    const first = check.check(10_000);
    api.requests[0].resolve();
    await first;
    now += 10;
    assert.deepEqual(await check.check(1), { ok: true, state: "ready" });
    now += TOKEN_STALL_MS - 1;
    assert.deepEqual(await check.check(1), { ok: true, state: "ready" });
    now += 1;
    assert.deepEqual(await check.check(1), {
      ok: false,
      state: "unavailable",
      cause: `the Clarus token endpoint has not answered for ${TOKEN_STALL_MS / 1000} s`,
    });
    assert.equal(api.requests.length, 2, "no second request while one is on its way");
    api.requests[1].resolve();
    assert.deepEqual(await check.check(1), { ok: true, state: "ready" });
  });
});
