// A loopback proxy in front of the simulator that can rewrite what its GraphQL answers: a tenant that
// misbehaves (broken paging, garbage introspection, a huge schema) on top of the simulator's real data.
const http = require("node:http");

/**
 * `rewrite({ query, variables }, body)` gets each parsed GraphQL answer and returns the body to send
 * instead (a value, or a string sent as it is), or undefined to pass it through. `options.status(request)`
 * may give another HTTP status for a GraphQL request (its body then is a REST-style error).
 */
async function startApiProxy(sim, rewrite, options = {}) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", async () => {
      const body = Buffer.concat(chunks);
      const headers = { ...req.headers };
      delete headers.host;
      delete headers["content-length"];
      const status = req.url.startsWith("/graphql") && options.status?.(JSON.parse(body.toString("utf8")));
      if (status) {
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(
          JSON.stringify({ errors: [{ code: status, symbol: "refused", details: "refused by the proxy" }] }),
        );
        return;
      }
      // fetch refuses a body on GET and HEAD, even an empty one (the REST read of an automation is a GET).
      const forwarded = req.method === "GET" || req.method === "HEAD" ? undefined : body;
      const answer = await fetch(sim.url + req.url, { method: req.method, headers, body: forwarded });
      let text = await answer.text();
      if (req.url.startsWith("/graphql") && answer.status === 200) {
        try {
          const replaced = rewrite(JSON.parse(body.toString("utf8")), JSON.parse(text));
          if (replaced !== undefined)
            text = typeof replaced === "string" ? replaced : JSON.stringify(replaced);
        } catch (error) {
          // A rewrite that does not fit the answer is a bug in the test: answer, so the client does not hang.
          res.writeHead(500, { "Content-Type": "text/plain" });
          res.end(`proxy rewrite failed: ${error.stack}`);
          return;
        }
      }
      const date = answer.headers.get("date");
      res.writeHead(answer.status, {
        "Content-Type": answer.headers.get("content-type") ?? "application/json",
        ...(date ? { Date: date } : {}),
      });
      res.end(text);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

module.exports = { startApiProxy };
