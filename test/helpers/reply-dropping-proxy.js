// A TCP proxy in front of a real redis-server that can lose one reply on purpose: the command gets through and
// Redis runs it, but its reply never reaches the client, whose connection is cut instead, as when a proxy or a
// network drops a connection after Redis ran the command and before its answer came back. It can also lose a
// command before it reaches Redis (the client cannot tell the two apart). Everything else is forwarded both
// ways unchanged, and the client's reconnections go through it as well.
const net = require("node:net");

class ReplyDroppingProxy {
  /** @param {{ port: number, host?: string }} target the redis-server */
  constructor(target) {
    this.target = { host: "127.0.0.1", ...target };
    this.server = net.createServer((client) => this.connect(client));
    this.pairs = new Set();
    this.armed = undefined;
    this.cutting = undefined;
    this.dropped = 0;
  }

  async start() {
    await new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", resolve);
    });
    this.port = this.server.address().port;
    return this;
  }

  /** `redis://` URL of the proxy (Redis without a password). */
  url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  /**
   * The next command whose bytes contain `marker` goes on to Redis; the reply that Redis sends after it is
   * swallowed and that client's connection is cut. Resolves once the reply was swallowed, so Redis had run it.
   */
  dropReplyTo(marker) {
    if (this.armed) throw new Error("a reply is already armed to be dropped");
    return new Promise((resolve) => {
      this.armed = { marker: Buffer.from(marker), resolve };
    });
  }

  /**
   * The next command whose bytes contain `marker` never reaches Redis: that client's connection is cut as it
   * arrives. Resolves once it was cut.
   */
  dropRequestWith(marker) {
    if (this.cutting) throw new Error("a request is already armed to be dropped");
    return new Promise((resolve) => {
      this.cutting = { marker: Buffer.from(marker), resolve };
    });
  }

  connect(client) {
    const upstream = net.connect(this.target);
    const pair = { client, upstream, dropping: undefined };
    this.pairs.add(pair);
    const close = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (chunk) => {
      const cutting = this.cutting;
      if (cutting && chunk.includes(cutting.marker)) {
        this.cutting = undefined;
        this.dropped++;
        close();
        cutting.resolve();
        return;
      }
      const armed = this.armed;
      if (armed && chunk.includes(armed.marker)) {
        this.armed = undefined;
        pair.dropping = armed;
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (!pair.dropping) {
        client.write(chunk);
        return;
      }
      // Redis answered: the command ran. The client never hears of it; its connection is gone.
      const { resolve } = pair.dropping;
      pair.dropping = undefined;
      this.dropped++;
      this.pairs.delete(pair);
      client.destroy();
      // A half close: Redis still runs whatever it has received before it sees the end.
      upstream.end();
      resolve();
    });
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", () => upstream.end());
    upstream.on("close", () => client.destroy());
  }

  async close() {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    await new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Starts a proxy in front of the redis-server at `target.port`. */
function startReplyDroppingProxy(target) {
  return new ReplyDroppingProxy(target).start();
}

module.exports = { ReplyDroppingProxy, startReplyDroppingProxy };
