/**
 * A checkbox property as it reaches the runtime: a boolean from the editor, or the string "true"/"false"
 * from a hand-written or older flow. Missing means the node's default.
 */
export function flag(value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null || value === "") return fallback;
  return value === true || value === "true";
}
