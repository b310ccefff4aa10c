import type { IncomingMessage } from "node:http";
import { BlockList, isIP, SocketAddress } from "node:net";

import { ConfigError } from "../node-red/errors";

type Family = "ipv4" | "ipv6";

interface Address {
  /** Canonical text: IPv4 dotted quad, or IPv6 as `SocketAddress` writes it (lower case, `::`, no zone). */
  text: string;
  family: Family;
  /** For an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), the IPv4 address it carries. */
  ipv4?: string;
}

const MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/;
const MAPPED_PREFIX_BITS = 96;
const MAX_BITS: Record<Family, number> = { ipv4: 32, ipv6: 128 };

/**
 * A list of CIDR ranges or single addresses, comma or whitespace separated, in one `BlockList` per family: an
 * IPv6 range admits IPv6 clients only, where a single `BlockList` would let `::/0` match IPv4 clients through
 * their mapped form. IPv4-mapped entries (`::ffff:10.0.0.0/104`) and clients are IPv4.
 */
export class AddressList {
  private readonly lists: Record<Family, BlockList> = { ipv4: new BlockList(), ipv6: new BlockList() };
  private size = 0;

  constructor(text: string, what: string) {
    for (const entry of text.split(/[\s,]+/).filter(Boolean)) {
      if (!this.add(entry)) {
        throw new ConfigError(`${what}: ${JSON.stringify(entry)} is not an IP address or CIDR range`);
      }
      this.size++;
    }
  }

  get isEmpty(): boolean {
    return this.size === 0;
  }

  contains(address: string | undefined): boolean {
    const parsed = parseAddress(address);
    if (!parsed) return false;
    const [text, family] = parsed.ipv4 ? [parsed.ipv4, "ipv4" as const] : [parsed.text, parsed.family];
    return this.lists[family].check(text, family);
  }

  /** Adds one entry; false when it is not an address or a range. */
  private add(entry: string): boolean {
    const slash = entry.lastIndexOf("/");
    const address = parseAddress(slash < 0 ? entry : entry.slice(0, slash));
    if (!address) return false;
    if (slash < 0) {
      if (address.ipv4) this.lists.ipv4.addAddress(address.ipv4, "ipv4");
      else this.lists[address.family].addAddress(address.text, address.family);
      return true;
    }
    const bitsText = entry.slice(slash + 1);
    if (!/^\d+$/.test(bitsText)) return false;
    const bits = Number(bitsText);
    if (bits > MAX_BITS[address.family]) return false;
    if (address.ipv4 && bits >= MAPPED_PREFIX_BITS) {
      this.lists.ipv4.addSubnet(address.ipv4, bits - MAPPED_PREFIX_BITS, "ipv4");
    } else {
      this.lists[address.family].addSubnet(address.text, bits, address.family);
    }
    return true;
  }
}

/**
 * An address as `net.isIP` defines one: dotted-quad IPv4 without leading zeros, or IPv6 with an optional zone
 * (`fe80::1%eth0`), which no range compares; the zone goes before `SocketAddress` so it never looks up an interface.
 */
function parseAddress(text: string | undefined): Address | undefined {
  if (!text) return undefined;
  const family = isIP(text);
  if (family === 4) return { text, family: "ipv4" };
  if (family !== 6) return undefined;
  let canonical: string;
  try {
    canonical = new SocketAddress({ address: text.replace(/%.*$/, ""), family: "ipv6" }).address;
  } catch {
    return undefined;
  }
  const mapped = MAPPED.exec(canonical);
  return { text: canonical, family: "ipv6", ipv4: mapped?.[1] };
}

const IPV4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;
const BRACKETED_IPV6 = /^\[([^\]]+)\](?::\d{1,5})?$/;

/**
 * An X-Forwarded-For entry as an address: some proxies (Azure Application Gateway) append the client's
 * port, `1.2.3.4:5678` or `[2001:db8::1]:5678`. A bare IPv6 address keeps its colons.
 */
function withoutPort(entry: string): string {
  const match = IPV4_WITH_PORT.exec(entry) ?? BRACKETED_IPV6.exec(entry);
  return match ? match[1] : entry;
}

/**
 * Which proxies may speak for the client. "none" (the default) uses the socket's peer and ignores
 * X-Forwarded-For, whose left-most entry any client can write; a hop count trusts that many proxies
 * nearest to us; a list trusts exactly those proxy addresses.
 */
export class ProxyTrust {
  private readonly hops: number;
  private readonly proxies?: AddressList;

  constructor(setting: string | number | undefined) {
    const text = String(setting ?? "").trim();
    if (text === "" || text === "none" || text === "0") {
      this.hops = 0;
    } else if (/^\d+$/.test(text)) {
      this.hops = Number(text);
    } else {
      this.hops = 0;
      this.proxies = new AddressList(text, "trusted proxies");
    }
  }

  /** The address the allow list judges: the peer, or the first untrusted hop walking XFF from the right. */
  clientAddress(req: IncomingMessage): string | undefined {
    const peer = req.socket.remoteAddress;
    if (this.hops === 0 && !this.proxies) return peer;
    const header = req.headers["x-forwarded-for"];
    const forwarded = (Array.isArray(header) ? header.join(",") : (header ?? ""))
      .split(",")
      .map((entry) => entry.trim())
      .filter(Boolean);
    const chain = [...forwarded.map(withoutPort), peer ?? ""];
    if (this.proxies) {
      for (let i = chain.length - 1; i > 0; i--) {
        if (!this.proxies.contains(chain[i])) return chain[i];
      }
      return chain[0];
    }
    // `hops` trusted proxies: the peer is the nearest, so the client is hops entries further left.
    return chain[Math.max(0, chain.length - 1 - this.hops)];
  }
}
