// The names registration gives Clarus automations: node id, event and installation mark, read back exactly.
const assert = require("node:assert/strict");

const {
  automationName,
  exactNames,
  installationOf,
  legacyAutomationName,
  namePattern,
  parseAutomationName,
} = require("../../../build/nodes/lib/automations/names");
const { KNOWN_EVENTS } = require("../../../build/nodes/lib/events/vocabulary");
const { nodeRootUrl } = require("../../../build/nodes/lib/webhook/public-url");

describe("automation names", function () {
  const production = installationOf(nodeRootUrl(new URL("https://nodered.example.com"), "/"));

  it("should give replicas behind one URL one mark, and another URL or httpNodeRoot another", function () {
    const same = [
      nodeRootUrl(new URL("https://NodeRed.example.com/"), "/"),
      nodeRootUrl(new URL("https://nodered.example.com:443"), ""),
      nodeRootUrl(new URL("https://nodered.example.com"), undefined),
    ];
    assert.deepEqual(
      same.map((address) => installationOf(address).mark),
      [production.mark, production.mark, production.mark],
    );
    const others = [
      nodeRootUrl(new URL("https://staging.example.com"), "/"),
      nodeRootUrl(new URL("https://nodered.example.com"), "/api"),
      nodeRootUrl(new URL("https://nodered.example.com/staging"), "/"),
    ].map((address) => installationOf(address).mark);
    assert.equal(new Set([production.mark, ...others]).size, 4);
    assert.match(production.mark, /^[0-9a-f]{8}$/);
  });

  it("should read back the event and mark of a name, and of an earlier version's name without one", function () {
    const name = automationName("a1b2", "goods_out.completed", production);
    assert.equal(name, `node-red-clarus a1b2 goods_out.completed @${production.mark}`);
    assert.deepEqual(parseAutomationName(name, "a1b2"), {
      event: "goods_out.completed",
      mark: production.mark,
    });
    assert.deepEqual(parseAutomationName(legacyAutomationName("a1b2", "goods_out.completed"), "a1b2"), {
      event: "goods_out.completed",
    });
  });

  it("should not read another node's or a hand-made name as the node's", function () {
    for (const [name, nodeId] of [
      [automationName("a1b2-2", "goods_out.completed", production), "a1b2"],
      ["node-red-clarus a1b2 goods_out.completed copy", "a1b2"],
      ["node-red-clarus a1b2 goods_out.completed @XYZ", "a1b2"],
      ["node-red-clarus a b goods_out.completed", "a"],
      ["node-red-clarus a1b2 goods_out.exploded", "a1b2"],
      ["Webhook goods_out.completed", "a1b2"],
    ]) {
      assert.equal(parseAutomationName(name, nodeId), undefined, name);
    }
  });

  it("should match every name of the node with a pattern that needs no escape rule", function () {
    assert.equal(namePattern("a1b2"), "node-red-clarus a1b2 %");
    assert.equal(namePattern("50%_off\\x"), "node-red-clarus 50__off_x %");
  });

  it("should list each event's name with this installation's mark and without one", function () {
    const names = exactNames("a1b2", production);
    assert.equal(names.length, 2 * KNOWN_EVENTS.size);
    assert.ok(names.includes(automationName("a1b2", "stock.placed_on_hold", production)));
    assert.ok(names.includes(legacyAutomationName("a1b2", "stock.placed_on_hold")));
    assert.equal(exactNames("a1b2", undefined).length, KNOWN_EVENTS.size);
  });
});
