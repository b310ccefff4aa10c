/** What a token is shown as wherever a URL that holds it could be seen (logs, status, the editor). */
export const TOKEN_SHOWN_AS = "<webhook token>";

/** `text` with every copy of the token (as typed and as URL-encoded) replaced by `<webhook token>`. */
export function redactToken(text: string, token: string | undefined): string {
  if (!token) return text;
  let redacted = text;
  for (const form of new Set([token, encodeURIComponent(token)])) {
    redacted = redacted.split(form).join(TOKEN_SHOWN_AS);
  }
  return redacted;
}

/**
 * `value` (a captured delivery: headers, a payload) with the token out of every string and key: as typed,
 * URL-encoded, and inside any text whose URL-decoding holds it (a proxy header that carries the URL, in
 * whatever case its percent-escapes are). Objects and arrays are copied, never changed in place.
 */
export function redactTokenDeep(value: unknown, token: string | undefined): unknown {
  if (!token) return value;
  const text = (s: string): string => {
    const redacted = redactToken(s, token);
    let decoded: string;
    try {
      decoded = decodeURIComponent(redacted.replace(/\+/g, " "));
    } catch {
      return redacted;
    }
    if (decoded.includes(token)) return redactToken(decoded, token);
    try {
      decoded = decodeURIComponent(redacted);
    } catch {
      return redacted;
    }
    return decoded.includes(token) ? redactToken(decoded, token) : redacted;
  };
  const walk = (item: unknown): unknown => {
    if (typeof item === "string") return text(item);
    if (Array.isArray(item)) return item.map(walk);
    if (item !== null && typeof item === "object") {
      const copy: Record<string, unknown> = {};
      for (const [key, inner] of Object.entries(item)) copy[text(key)] = walk(inner);
      return copy;
    }
    return item;
  };
  return walk(value);
}
