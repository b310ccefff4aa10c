/**
 * What `promise` gives if it settles within `ms`, else undefined (and undefined when it rejects): for reads that
 * must not hold up an answer, a scrape or a check when a store or an API hangs. Leaves no timer behind.
 */
export async function withinDeadline<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
    timer.unref();
  });
  try {
    return await Promise.race([promise.catch(() => undefined), late]);
  } finally {
    clearTimeout(timer);
  }
}
