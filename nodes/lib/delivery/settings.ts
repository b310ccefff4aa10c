/**
 * How a connection counts an event as delivered: once it enters the flow (`on-receipt`), or only when a
 * clarus-confirm node sees it (`on-confirm`, redelivered until then). See docs/delivery.md.
 */
export type DeliveryMode = "on-receipt" | "on-confirm";

export interface DeliverySettings {
  mode: DeliveryMode;
  /** How long an unconfirmed event waits before it is sent again (`redeliverSeconds`). */
  redeliverMs: number;
  /** Sends before an unconfirmed event becomes a dead letter (`maxAttempts`). */
  maxAttempts: number;
}

export interface DeliveryDef {
  delivery?: string;
  redeliverSeconds?: number | string;
  maxAttempts?: number | string;
}

export const DEFAULT_REDELIVER_SECONDS = 300;
export const DEFAULT_MAX_ATTEMPTS = 10;
/** Redelivery is checked once a second, so shorter waits would only be rounded up. */
export const MIN_REDELIVER_SECONDS = 1;

/**
 * The connection's delivery properties. A 0.1 flow sets none of them and gets `on-receipt`, as before; a
 * value the editor would refuse is warned about and replaced by its default, so a hand-edited flow starts.
 */
export function deliverySettings(def: DeliveryDef, warn: (message: string) => void): DeliverySettings {
  const requested = String(def.delivery ?? "").trim() || "on-receipt";
  let mode: DeliveryMode = "on-receipt";
  if (requested === "on-confirm" || requested === "on-receipt") mode = requested;
  else warn(`delivery ${JSON.stringify(requested)} is not on-receipt or on-confirm; on-receipt is used`);
  const redeliverSeconds = numberAtLeast(
    def.redeliverSeconds,
    MIN_REDELIVER_SECONDS,
    DEFAULT_REDELIVER_SECONDS,
    "redeliverSeconds",
    warn,
  );
  const maxAttempts = Math.floor(
    numberAtLeast(def.maxAttempts, 1, DEFAULT_MAX_ATTEMPTS, "maxAttempts", warn),
  );
  return { mode, redeliverMs: redeliverSeconds * 1000, maxAttempts };
}

function numberAtLeast(
  value: unknown,
  minimum: number,
  fallback: number,
  name: string,
  warn: (message: string) => void,
): number {
  if (value === undefined || value === null || value === "") return fallback;
  const number = Number(value);
  if (Number.isFinite(number) && number >= minimum) return number;
  warn(`${name} ${JSON.stringify(value)} must be a number of at least ${minimum}; ${fallback} is used`);
  return fallback;
}
