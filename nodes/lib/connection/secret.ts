import crypto from "node:crypto";

// crypto.hash (Node 20.12+) is the one-shot form, asked of every webhook request; older Nodes build a Hash.
const digest: (value: string) => Buffer =
  typeof crypto.hash === "function"
    ? (value) => crypto.hash("sha256", value, "buffer")
    : (value) => crypto.createHash("sha256").update(value, "utf8").digest();

/**
 * Compares a presented token with the secret in constant time. Both sides are hashed first, so the
 * comparison never depends on (or leaks) the secret's length.
 */
export class SecretMatcher {
  private readonly expected: Buffer;

  constructor(secret: string) {
    this.expected = digest(secret);
  }

  matches(candidate: string | undefined): boolean {
    return crypto.timingSafeEqual(this.expected, digest(candidate ?? "")) && candidate !== undefined;
  }
}
