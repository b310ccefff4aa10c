// node-red-node-test-helper turns node.status into a spy that emits "call:status"; statuses are throttled,
// so a test awaits the one it wants instead of reading the last call. The spy sits on Node's prototype, so it
// records every node's calls: each is told apart by the node it was made on.

/** Resolves with the first status of `node`, already shown or still to come, that `matches` accepts. */
function waitForStatus(node, matches) {
  const shown = node.status
    .getCalls()
    .filter((call) => call.thisValue === node)
    .map((call) => call.args[0])
    .find(matches);
  if (shown) return Promise.resolve(shown);
  return new Promise((resolve) => {
    const listener = (call) => {
      if (matches(call.args[0])) {
        node.removeListener("call:status", listener);
        resolve(call.args[0]);
      }
    };
    node.on("call:status", listener);
  });
}

/**
 * Resolves with the text of the first call of `method` (log, warn, …) on `node` whose text `matches`, made or
 * to come; the same spies record these calls.
 */
function waitForCall(node, method, matches) {
  const text = (call) => String(call.args[0]);
  const seen = node[method].getCalls().find((call) => call.thisValue === node && matches.test(text(call)));
  if (seen) return Promise.resolve(text(seen));
  return new Promise((resolve) => {
    const listener = (call) => {
      if (!matches.test(text(call))) return;
      node.removeListener(`call:${method}`, listener);
      resolve(text(call));
    };
    node.on(`call:${method}`, listener);
  });
}

module.exports = { waitForStatus, waitForCall };
