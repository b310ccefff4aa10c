const assert = require("node:assert/strict");

const { startSimulator } = require("../../../build/dev/sim/index.js");
const { ClarusClient } = require("../../../build/nodes/lib/api/client.js");
const { relayPages } = require("../../../build/nodes/lib/api/relay.js");
const { startApiProxy } = require("../../helpers/api-proxy");

const STOCKS = `query Stocks($first: Int, $after: String) {
  stocks { all(first: $first, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id } } } }
}`;

/** Pages through every stock behind `rewrite`; resolves with the ids read, or rejects with the run error. */
async function readAll(sim, rewrite) {
  const proxy = await startApiProxy(sim, rewrite);
  try {
    const client = new ClarusClient({ apiUrl: proxy.url, subdomain: sim.subdomain, accessToken: "static" });
    const ids = [];
    for await (const page of relayPages(client, { query: STOCKS, variables: {}, pageSize: 10 })) {
      ids.push(...page.nodes.map((node) => node.id));
    }
    return ids;
  } finally {
    await proxy.close();
  }
}

describe("relay paging against a misbehaving API", function () {
  let sim;
  let stocks;
  beforeEach(async () => {
    sim = await startSimulator({ history: 0, seed: 3, staticToken: "static" });
    stocks = sim.store.stocks.size;
  });
  afterEach(() => sim.stop());

  it("should read every page of a well-behaved connection", async function () {
    const ids = await readAll(sim, () => undefined);
    assert.equal(ids.length, stocks);
    assert.equal(new Set(ids).size, stocks);
  });

  it("should fail, not end quietly, when hasNextPage is true without an endCursor", async function () {
    let pages = 0;
    const run = readAll(sim, (_request, body) => {
      pages++;
      delete body.data.stocks.all.pageInfo.endCursor;
      return body;
    });
    await assert.rejects(run, /next page \(hasNextPage\) but gave no endCursor/);
    assert.equal(pages, 1, "nothing is asked after the page without a cursor");
  });

  it("should fail, not loop, when the API gives the same cursor again", async function () {
    let pages = 0;
    let first;
    const run = readAll(sim, (_request, body) => {
      pages++;
      // An API that ignores $after: the first page's cursor again and again (the proxy stops after 50).
      const pageInfo = body.data.stocks.all.pageInfo;
      first ??= pageInfo.endCursor;
      pageInfo.endCursor = first;
      pageInfo.hasNextPage = pages < 50;
      return body;
    });
    await assert.rejects(run, /cursor "[^"]+" a second time, so paging would never end/);
    assert.equal(pages, 2);
  });
});
