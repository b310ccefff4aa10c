import type { IncomingMessage } from "node:http";

export class BodyTooLargeError extends Error {
  override name = "BodyTooLargeError";
}

export class BodyTimeoutError extends Error {
  override name = "BodyTimeoutError";
}

/**
 * Reads a request body up to `limit` bytes. A declared Content-Length over the limit fails before any
 * byte is read, and a body that grows past it (chunked, or lying about its length) fails as soon as it
 * does, so an oversized body is never held whole.
 */
export function readBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new BodyTooLargeError(`body of ${declared} bytes is over the limit of ${limit}`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(
      () => finish(new BodyTimeoutError(`body not received within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) {
        finish(new BodyTooLargeError(`body is over the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => finish(undefined, Buffer.concat(chunks, received));
    const onError = (error: Error) => finish(error);
    const onAborted = () => finish(new Error("client closed the connection before the body was complete"));
    function finish(error: Error | undefined, body?: Buffer) {
      clearTimeout(timer);
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("aborted", onAborted);
      if (error) {
        // Leave the rest unread: the socket is closed after the answer, so nothing more is buffered.
        req.pause();
        reject(error);
      } else {
        resolve(body ?? Buffer.alloc(0));
      }
    }
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("aborted", onAborted);
  });
}
