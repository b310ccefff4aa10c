import type { IncomingMessage } from "node:http";

import ipaddr from "ipaddr.js";

import { ConfigError } from "../node-red/errors";

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Range = [Address, number];

/** A list of CIDR ranges or single addresses, comma or whitespace separated. */
export class AddressList {
  private readonly ranges: Range[];

  constructor(text: string, what: string) {
    this.ranges = [];
    for (const entry of text.split(/[\s,]+/).filter(Boolean)) {
      try {
        this.ranges.push(entry.includes("/") ? ipaddr.parseCIDR(entry) : singleAddress(entry));
      } catch {
        throw new ConfigError(`${what}: ${JSON.stringify(entry)} is not an IP address or CIDR range`);
      }
    }
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  contains(address: string | undefined): boolean {
    const parsed = parseAddress(address);
    if (!parsed) return false;
    return this.ranges.some(([range, bits]) => parsed.kind() === range.kind() && parsed.match(range, bits));
  }
}

function singleAddress(text: string): Range {
  const address = ipaddr.parse(text);
  return [unmap(address), unmap(address).kind() === "ipv4" ? 32 : 128];
}

/** IPv4 clients on a dual-stack socket appear as ::ffff:a.b.c.d; compare them as IPv4. */
function unmap(address: Address): Address {
  return address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress()
    ? (address as ipaddr.IPv6).toIPv4Address()
    : address;
}

function parseAddress(text: string | undefined): Address | undefined {
  if (!text || !ipaddr.isValid(text)) return undefined;
  return unmap(ipaddr.parse(text));
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
