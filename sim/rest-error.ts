/** Clarus REST's documented 403/404/422 body; `source` names the field at fault. */
export function restError(
  code: number,
  symbol: string,
  details: string,
  source: string | null = null,
): unknown {
  return { errors: [{ code, symbol, details, source, context: null }] };
}
