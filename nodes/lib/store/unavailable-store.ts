import {
  type ConnectionStore,
  type InboxEntry,
  type InboxState,
  type Lease,
  type StoreHealth,
  type StoreKind,
  StoreUnavailableError,
} from "./connection-store";

/**
 * A store that cannot be built from its configuration (a redisUrl that does not parse): every call rejects with
 * StoreUnavailableError and the reason, so webhook-in answers 503 and the status says what to fix.
 */
export class UnavailableStore implements ConnectionStore {
  readonly health: StoreHealth;

  constructor(
    readonly kind: StoreKind,
    summary: string,
    private readonly cause: string,
  ) {
    this.health = { state: "unavailable", summary, cause, since: Date.now() };
  }

  onHealth(): () => void {
    return () => undefined;
  }

  claim(): Promise<boolean> {
    return this.refuse();
  }
  release(): Promise<void> {
    return this.refuse();
  }
  admit(): Promise<"fresh" | "duplicate"> {
    return this.refuse();
  }
  confirm(): Promise<boolean> {
    return this.refuse();
  }
  retry(): Promise<boolean> {
    return this.refuse();
  }
  takeDue(): Promise<InboxEntry[]> {
    return this.refuse();
  }
  markDead(): Promise<void> {
    return this.refuse();
  }
  deadLetters(): Promise<InboxEntry[]> {
    return this.refuse();
  }
  replayDead(): Promise<boolean> {
    return this.refuse();
  }
  discardDead(): Promise<boolean> {
    return this.refuse();
  }
  inboxCounts(): Promise<{ pending: number; dead: number }> {
    return this.refuse();
  }
  oldestPendingAge(): Promise<number | undefined> {
    return this.refuse();
  }
  inboxState(): Promise<InboxState> {
    return this.refuse();
  }
  readDocument(): Promise<unknown> {
    return this.refuse();
  }
  writeDocument(): Promise<void> {
    return this.refuse();
  }
  removeDocument(): Promise<void> {
    return this.refuse();
  }
  acquireLease(): Promise<Lease | undefined> {
    return this.refuse();
  }
  async close(): Promise<void> {}

  private refuse<T>(): Promise<T> {
    return Promise.reject(
      new StoreUnavailableError(`the ${this.kind} store is not available: ${this.cause}`),
    );
  }
}
