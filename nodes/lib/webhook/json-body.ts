import secureJson from "secure-json-parse";

import { isPlainObject } from "../json";
import type { JsonObject } from "../json";

export class BodyError extends Error {
  override name = "BodyError";
}

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);
// Only bodies that could spell a forbidden key (directly or through a \u escape) need the full walk.
const MAY_HOLD_FORBIDDEN_KEY = /__proto__|constructor|prototype|\\u/;

/**
 * Parses a webhook body into a plain object. Prototype-poisoning keys are refused rather than stripped:
 * a copy made later (Node-RED clones messages on fan-out) would otherwise turn them into a real prototype.
 */
export function parseJsonObject(text: string): JsonObject {
  let parsed: unknown;
  try {
    parsed = secureJson.parse(stripBom(text), undefined, {
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

function stripBom(text: string): string {
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
