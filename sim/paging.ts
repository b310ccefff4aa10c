import { GraphQLError } from "graphql";

import type { Row } from "./types";

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export interface PageArgs {
  first?: number | null;
  after?: string | null;
}

export interface Page<T> {
  rows: T[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
}

/**
 * Cursor = base64 of the record id. Keyset paging (id > cursor) rather than offsets, so a record
 * inserted while a client pages (it always gets a higher id) is neither skipped nor repeated.
 */
export function encodeCursor(id: number): string {
  return Buffer.from(String(id), "utf8").toString("base64");
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, "base64").toString("utf8");
  if (!/^\d{1,15}$/.test(text) || encodeCursor(Number(text)) !== cursor) {
    throw new GraphQLError(`Invalid cursor "${cursor}"`);
  }
  return Number(text);
}

export function pageSize(first: number | null | undefined, max = MAX_PAGE_SIZE): number {
  if (first === undefined || first === null) return Math.min(DEFAULT_PAGE_SIZE, max);
  if (first < 0) throw new GraphQLError("first must not be negative");
  return Math.min(first, max);
}

/** `rows` must be in ascending id order (tables only ever append); `maxSize` caps `first`. */
export function page<T extends Row>(
  rows: readonly T[],
  match: (row: T) => boolean,
  args: PageArgs,
  maxSize = MAX_PAGE_SIZE,
): Page<T> {
  const size = pageSize(args.first, maxSize);
  const after = args.after === undefined || args.after === null ? undefined : decodeCursor(args.after);
  const start = after === undefined ? 0 : firstIndexAbove(rows, after);
  const out: T[] = [];
  let hasNextPage = false;
  for (let i = start; i < rows.length; i++) {
    const row = rows[i] as T;
    if (!match(row)) continue;
    if (out.length === size) {
      hasNextPage = true;
      break;
    }
    out.push(row);
  }
  return { rows: out, hasNextPage, hasPreviousPage: after !== undefined };
}

function firstIndexAbove<T extends Row>(rows: readonly T[], id: number): number {
  let low = 0;
  let high = rows.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((rows[mid] as T).id <= id) low = mid + 1;
    else high = mid;
  }
  return low;
}
