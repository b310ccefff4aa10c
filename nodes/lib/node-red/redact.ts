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
