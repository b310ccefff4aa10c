// Shared helpers for the simulator specs: real HTTP over loopback, no mocks.
const http = require("node:http");

const SIM = require("../../build/dev/sim/index.js");

async function fetchToken(sim) {
  const res = await fetch(sim.tokenUrl, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: sim.clientId,
      client_secret: sim.clientSecret,
    }).toString(),
  });
  if (res.status !== 200) throw new Error(`token request answered ${res.status}`);
  return (await res.json()).access_token;
}

/** POST /graphql; returns status, headers and the parsed body (or the raw text when not JSON). */
async function gql(sim, token, query, variables, extraHeaders = {}) {
  const headers = {
    "content-type": "application/json",
    "x-clarus-subdomain": sim.subdomain,
    ...extraHeaders,
  };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(sim.graphqlUrl, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body };
}

/** Follows pageInfo to the end; returns every node and the number of pages. */
async function allPages(sim, token, resource, { filter, first, fields = "id", args = "" } = {}) {
  const query = `query($filter: ${filterTypeOf(resource)}, $first: Int, $after: String) {
    ${resource} { all(filter: $filter, first: $first, after: $after${args}) {
      pageInfo { hasNextPage endCursor }
      edges { cursor node { ${fields} } } } } }`;
  const nodes = [];
  let after = null;
  let pages = 0;
  for (;;) {
    const { status, body } = await gql(sim, token, query, { filter, first, after });
    if (status !== 200 || body.errors) throw new Error(`page failed: ${status} ${JSON.stringify(body)}`);
    const conn = body.data[resource].all;
    pages++;
    for (const edge of conn.edges) nodes.push(edge.node);
    if (!conn.pageInfo.hasNextPage) return { nodes, pages };
    after = conn.pageInfo.endCursor;
  }
}

const FILTER_TYPES = {
  goods_outs: "GoodsOutsFilterType",
  goods_in_receipts: "InboundGoodFilterType",
  stocks: "StockFilterType",
  transactions: "TransactionFilterType",
  tasks: "TaskFilterType",
  automations: "AutomationFilterType",
};

function filterTypeOf(resource) {
  return FILTER_TYPES[resource];
}

/** A real webhook receiver on loopback that records every request. */
async function startReceiver(status = 200) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      requests.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      res.writeHead(typeof status === "function" ? status(req) : status, {
        "content-type": "application/json",
      });
      res.end('{"ok":true}');
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/clarus/events/secret-token`,
    requests,
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function ids(nodes) {
  return nodes.map((n) => Number(n.id));
}

module.exports = { SIM, fetchToken, gql, allPages, startReceiver, ids };
