// A loopback HTTP server that a test scripts answer by answer, for what the simulator does not do: the
// Clarus REST API, answers trickled byte by byte, oversized answers, connections cut after the request.
// It records every request (method, path, headers, parsed body) and issues numbered OAuth tokens.
const { EventEmitter } = require("node:events");
const http = require("node:http");

class LoopbackApi extends EventEmitter {
  constructor() {
    super();
    this.requests = [];
    this.tokensIssued = 0;
    /** Bearer tokens numbered below this are refused with 401. */
    this.firstValidToken = 1;
    /** (request, res) => void; answers every request that is not a token request. */
    this.handler = (_request, res) => json(res, 404, { error: "no handler" });
    this.sockets = new Set();
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
  }

  async listen(port = 0) {
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** Requests other than token requests, oldest first. */
  get apiRequests() {
    return this.requests.filter((r) => r.path !== "/oauth/token");
  }

  /** True when `Authorization` carries a token this server issued and has not revoked. */
  tokenValid(request) {
    const match = /^Bearer token-(\d+)$/.exec(request.headers.authorization ?? "");
    return (
      match !== null && Number(match[1]) >= this.firstValidToken && Number(match[1]) <= this.tokensIssued
    );
  }

  onRequest(req, res) {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body = text;
      try {
        body = text && (req.headers["content-type"] ?? "").includes("json") ? JSON.parse(text) : text;
      } catch {
        // Kept as text; the test sees what arrived.
      }
      const url = new URL(req.url, this.url);
      const request = {
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body,
        socket: req.socket,
      };
      this.requests.push(request);
      this.emit("request", request);
      if (request.path === "/oauth/token") {
        this.tokensIssued++;
        return json(res, 200, {
          access_token: `token-${this.tokensIssued}`,
          token_type: "Bearer",
          expires_in: 3600,
        });
      }
      this.handler(request, res);
    });
  }

  async close() {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

function json(res, status, body, headers = {}) {
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) } : {}),
    ...headers,
  });
  res.end(text);
}

async function startLoopbackApi(port) {
  return new LoopbackApi().listen(port);
}

module.exports = { startLoopbackApi, json };
