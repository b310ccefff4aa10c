/**
 * Warns at most once per `intervalMs` for each reason, and says how many were held back, so a flood of
 * bad requests cannot flood the log while the first of each kind is always seen.
 */
export class RateLimitedLog {
  private readonly lastLogged = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: (message: string) => void,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * `reason` starts the message and groups it with others, unless `group` names a finer group (two causes
   * that share a first word); `detail` is appended to the one that is written.
   */
  warn(reason: string, detail = "", group = reason): void {
    const now = this.now();
    const entry = this.lastLogged.get(group);
    if (entry && now - entry.at < this.intervalMs) {
      entry.suppressed++;
      return;
    }
    const held =
      entry && entry.suppressed > 0 ? ` (${entry.suppressed} more like this since the last warning)` : "";
    this.lastLogged.set(group, { at: now, suppressed: 0 });
    this.log(`${reason}${detail ? `: ${detail}` : ""}${held}`);
  }
}
