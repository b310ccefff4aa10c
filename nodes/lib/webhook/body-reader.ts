import type { IncomingMessage } from "node:http";

export class BodyTooLargeError extends Error {
  override name = "BodyTooLargeError";
}

export class BodyTimeoutError extends Error {
  override name = "BodyTimeoutError";
}

/** The reader was stopped from outside (the node is closing) before the body was complete. */
export class BodyAbortedError extends Error {
  override name = "BodyAbortedError";
}

/**
 * Reads a request body up to `limit` bytes. A declared Content-Length over the limit fails before any
 * byte is read, and a body that grows past it (chunked, or lying about its length) fails as soon as it
 * does, so an oversized body is never held whole. `signal` stops the read (BodyAbortedError).
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new BodyTooLargeError(`body of ${declared} bytes is over the limit of ${limit}`));
  }
  if (signal?.aborted) return Promise.reject(new BodyAbortedError(abortReason(signal)));
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
    const onStop = () => finish(new BodyAbortedError(abortReason(signal)));
    function finish(error: Error | undefined, body?: Buffer) {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onStop);
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
    signal?.addEventListener("abort", onStop);
  });
}

function abortReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason.message : "the body read was stopped";
}
