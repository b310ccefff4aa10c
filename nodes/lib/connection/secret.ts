import { createHash, timingSafeEqual } from "node:crypto";

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

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
    return timingSafeEqual(this.expected, digest(candidate ?? "")) && candidate !== undefined;
  }
}
