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

module.exports = { waitForStatus };
