/**
 * A small seeded PRNG (mulberry32). The simulator never uses Math.random for anything a test measures, so
 * a seed reproduces the same warehouse, the same drops and repeats, and the same faults.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [min, max], both inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `share` (0 never, 1 always). */
  chance(share: number): boolean {
    if (share <= 0) return false;
    if (share >= 1) return true;
    return this.next() < share;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError("pick from an empty list");
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /**
   * An independent stream for one concern (activity, webhooks, faults): draws in one never shift the
   * others, so adding a fault does not change which deliveries are dropped.
   */
  fork(stream: number): Prng {
    return new Prng(mix(this.state ^ Math.imul(stream + 1, 0x9e3779b9)));
  }
}

/** splitmix32 finaliser: spreads nearby seeds apart. */
function mix(value: number): number {
  let z = value >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}
