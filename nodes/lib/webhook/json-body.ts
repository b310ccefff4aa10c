import type { ServerResponse } from "node:http";

import secureJson from "secure-json-parse";

import type { JsonObject } from "../json";
import { isPlainObject } from "../json";

export class BodyError extends Error {
  override name = "BodyError";
}

/**
 * The deepest a body's objects and arrays may nest. Clarus records nest a few levels (an order, its lines,
 * their items); 64 is far above any real record, and far below the few thousand levels at which the
 * recursive walks an event goes through (JSON.stringify into the inbox, Node-RED's message clone) run out
 * of stack. A body deeper than that could never be stored or sent on, however often Clarus retried it.
 */
export const MAX_NESTING_DEPTH = 64;

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
// Only bodies that could spell a forbidden key (directly or through a \u escape) need the full walk.
const MAY_HOLD_FORBIDDEN_KEY = /__proto__|constructor|prototype|\\u/;

/**
 * Parses a webhook body into a plain object. Prototype-poisoning keys are refused rather than stripped:
 * a copy made later (Node-RED clones messages on fan-out) would otherwise turn them into a real prototype.
 */
export function parseJsonObject(text: string): JsonObject {
  assertNestingWithin(text, MAX_NESTING_DEPTH);
  let parsed: unknown;
  try {
    // secure-json-parse drops a leading BOM itself.
    parsed = secureJson.parse(text, undefined, {
      protoAction: "error",
      constructorAction: "error",
    });
  } catch (error) {
    if (error instanceof SyntaxError && /prototype|constructor/i.test(error.message)) {
      throw new BodyError("body holds a forbidden key (__proto__, constructor or prototype)");
    }
    throw new BodyError("body is not valid JSON");
  }
  if (!isPlainObject(parsed)) throw new BodyError("body is not a JSON object");
  if (MAY_HOLD_FORBIDDEN_KEY.test(text)) assertNoForbiddenKeys(parsed);
  return parsed;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Refuses a body nested deeper than `limit` before it is parsed: one pass over the text, brackets inside
 * strings not counted. A body that is not JSON at all is left to the parser to refuse.
 */
function assertNestingWithin(text: string, limit: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === BACKSLASH) i++;
      else if (code === QUOTE) inString = false;
    } else if (code === QUOTE) {
      inString = true;
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      if (++depth > limit) throw new BodyError(`body is nested deeper than ${limit} levels`);
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      depth--;
    }
  }
}

/** The text without a leading byte order mark, which JSON does not allow. */
export function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function assertNoForbiddenKeys(value: unknown): void {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current !== "object" || current === null) continue;
    for (const key of Object.keys(current)) {
      if (FORBIDDEN_KEYS.has(key)) {
        throw new BodyError(`body holds a forbidden key (${key})`);
      }
      stack.push((current as Record<string, unknown>)[key]);
    }
  }
}

/** Accepts JSON media types; a missing content type is accepted when the body parses as JSON. */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined || header.trim() === "") return true;
  const type = header.split(";")[0].trim().toLowerCase();
  return (
    type === "application/json" || type === "text/json" || /^application\/[a-z0-9.+-]*\+json$/.test(type)
  );
}

/**
 * Writes the answer directly: express's res.json() would hash an ETag and look up a content type on
 * every request, the largest cost on this path that the flow gains nothing from.
 */
export function answerJson(
  res: ServerResponse,
  status: number,
  body: Buffer,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": String(body.length),
    ...headers,
  });
  res.end(body);
}
