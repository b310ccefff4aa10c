// The webhook-in's source addresses: the allowIps list (AddressList) and whose X-Forwarded-For entries count
// (ProxyTrust), the latter against requests on a real loopback server so peers are what sockets report.
const assert = require("node:assert/strict");
const http = require("node:http");

const { AddressList, ProxyTrust } = require("../../../build/nodes/lib/webhook/client-address.js");

const list = (text) => new AddressList(text, "allowed IPs");

/** Asserts which of `clients` the list admits and which it refuses. */
function assertAdmits(text, { yes = [], no = [] }) {
  const addresses = list(text);
  for (const client of yes) assert.equal(addresses.contains(client), true, `${text} should admit ${client}`);
  for (const client of no) assert.equal(addresses.contains(client), false, `${text} should refuse ${client}`);
}

describe("AddressList", function () {
  it("should match single addresses whatever the IPv6 spelling", function () {
    assertAdmits("203.0.113.9, 2001:db8::1", {
      yes: ["203.0.113.9", "2001:db8::1", "2001:DB8:0:0:0:0:0:1", "2001:0db8:0000:0000:0000:0000:0000:0001"],
      no: ["203.0.113.10", "2001:db8::2", "2001:db8:0:0:1::1"],
    });
  });

  it("should match CIDR ranges at their edges, host bits in the entry ignored", function () {
    assertAdmits("10.1.2.3/8", { yes: ["10.0.0.0", "10.255.255.255"], no: ["9.255.255.255", "11.0.0.0"] });
    assertAdmits("198.51.100.7/32", { yes: ["198.51.100.7"], no: ["198.51.100.6", "198.51.100.8"] });
    assertAdmits("2001:db8:1:2::/64", {
      yes: ["2001:db8:1:2::", "2001:db8:1:2:ffff:ffff:ffff:ffff"],
      no: ["2001:db8:1:3::", "2001:db8:1:1:ffff:ffff:ffff:ffff"],
    });
    assertAdmits("::1/128", { yes: ["::1"], no: ["::2", "::"] });
    assertAdmits("10.0.0.0/08", { yes: ["10.9.9.9"], no: ["11.0.0.1"] });
  });

  it("should keep the families apart: ::/0 admits no IPv4 client, 0.0.0.0/0 no IPv6 client", function () {
    assertAdmits("::/0", {
      yes: ["2001:db8::1", "::1", "fe80::1"],
      no: ["203.0.113.9", "::ffff:203.0.113.9"],
    });
    assertAdmits("0.0.0.0/0", {
      yes: ["203.0.113.9", "::ffff:203.0.113.9", "0.0.0.0"],
      no: ["2001:db8::1", "::1"],
    });
    // Wider than the mapped space, so an IPv6 range: IPv4 clients are not in it.
    assertAdmits("::ffff:0:0/95", { yes: ["::fffe:1:2"], no: ["203.0.113.9", "::ffff:203.0.113.9"] });
  });

  it("should read an IPv4-mapped client as its IPv4 address, in any IPv6 spelling", function () {
    assertAdmits("203.0.113.0/24", {
      yes: ["::ffff:203.0.113.9", "::FFFF:203.0.113.9", "::ffff:cb00:7109", "0:0:0:0:0:ffff:cb00:7109"],
      no: ["::ffff:198.51.100.7", "::203.0.113.9", "64:ff9b::203.0.113.9"],
    });
  });

  it("should read an IPv4-mapped entry as the IPv4 address or range it carries", function () {
    assertAdmits("::ffff:203.0.113.9", { yes: ["203.0.113.9", "::ffff:203.0.113.9"], no: ["203.0.113.8"] });
    assertAdmits("::ffff:10.0.0.0/104", { yes: ["10.200.0.1", "::ffff:10.0.0.1"], no: ["11.0.0.1"] });
    assertAdmits("::ffff:0:0/96", { yes: ["203.0.113.9", "::ffff:1.2.3.4"], no: ["2001:db8::1"] });
  });

  it("should take ::a.b.c.d as the IPv6 address it is, not as a mapped IPv4 one", function () {
    assertAdmits("203.0.113.9", { no: ["::203.0.113.9"] });
    assertAdmits("::203.0.113.9", { yes: ["::cb00:7109"], no: ["203.0.113.9", "::ffff:203.0.113.9"] });
  });

  it("should ignore the zone of a link-local address, in the client and in the entry", function () {
    assertAdmits("fe80::/10", {
      yes: ["fe80::1%eth0", "fe80::1%1", "fe80::1%br-lan.100"],
      no: ["fec0::1%eth0"],
    });
    assertAdmits("fe80::1%eth0", { yes: ["fe80::1", "fe80::1%eth1"], no: ["fe80::2%eth0"] });
    assertAdmits("fe80::%eth0/64", { yes: ["fe80::abcd"], no: ["fe80:0:0:1::1"] });
  });

  it("should admit no client that is not an address as node:net defines one", function () {
    // Octal, hex, short and long IPv4 forms are refused rather than read (010.0.0.1 would be 8.0.0.1).
    assertAdmits("0.0.0.0/0, ::/0", {
      no: [
        undefined,
        "",
        "unknown",
        "010.0.0.1",
        "8.0.0.01",
        "127.1",
        "0x7f.0.0.1",
        "2130706433",
        "1.2.3.256",
      ],
    });
    assertAdmits("0.0.0.0/0, ::/0", {
      no: ["[::1]", "::1]", " 127.0.0.1", "2001:db8:::1", "12345::1", "fe80::1%"],
    });
  });

  it("should list entries separated by commas, spaces or new lines, and be empty for none", function () {
    assert.equal(list("").isEmpty, true);
    assert.equal(list(" , \n").isEmpty, true);
    const addresses = list("203.0.113.9,198.51.100.0/24\n2001:db8::/32  ::1");
    assert.equal(addresses.isEmpty, false);
    for (const client of ["203.0.113.9", "198.51.100.200", "2001:db8:ffff::1", "::1"]) {
      assert.equal(addresses.contains(client), true, client);
    }
  });

  it("should refuse an entry that is not an address or a range with a ConfigError naming it", function () {
    const refused = [
      "010.0.0.1",
      "127.1",
      "0x7f000001",
      "2130706433",
      "::ffff:010.0.0.1",
      "1.2.3.256",
      "10.0.0.0/33",
      "2001:db8::/129",
      "10.0.0.0/-1",
      "10.0.0.0/1.5",
      "10.0.0.0/",
      "/8",
      "10.0.0.0//8",
      "[2001:db8::1]",
      "203.0.113.9:443",
      "example.com",
      "2001:db8:::1",
    ];
    for (const entry of refused) {
      assert.throws(
        () => new AddressList(`192.0.2.1, ${entry}, 192.0.2.2`, "trusted proxies"),
        {
          name: "ConfigError",
          message: `trusted proxies: ${JSON.stringify(entry)} is not an IP address or CIDR range`,
        },
        entry,
      );
    }
  });
});

describe("ProxyTrust.clientAddress", function () {
  let server;
  let port;
  let trust;
  let seen;

  before(async function () {
    // Listening on :: takes IPv4 connections as ::ffff:127.0.0.1, as a dual-stack Node-RED does.
    server = http.createServer((req, res) => {
      seen = trust.clientAddress(req);
      res.end();
    });
    await new Promise((resolve) => server.listen(0, "::", resolve));
    port = server.address().port;
  });

  after(async function () {
    await new Promise((resolve) => server.close(resolve));
  });

  /** The client address `setting` finds for a request from `host` carrying `forwarded` (a string or several headers). */
  async function clientOf(setting, forwarded, host = "127.0.0.1") {
    trust = new ProxyTrust(setting);
    seen = "not asked";
    // An array value goes out as one header line per entry.
    const headers = forwarded === undefined ? {} : { "X-Forwarded-For": forwarded };
    await new Promise((resolve, reject) => {
      http
        .request({ host, port, headers }, (res) => {
          res.resume();
          res.on("end", resolve);
        })
        .on("error", reject)
        .end();
    });
    return seen;
  }

  it("should take the socket's peer and ignore X-Forwarded-For by default", async function () {
    for (const setting of [undefined, "", "none", "0", 0]) {
      assert.equal(await clientOf(setting, "203.0.113.9"), "::ffff:127.0.0.1", String(setting));
    }
    assert.equal(await clientOf("none", "203.0.113.9", "::1"), "::1");
  });

  it("should trust a mapped peer through its IPv4 entry, and an IPv4 peer through a mapped entry", async function () {
    assert.equal(await clientOf("127.0.0.1", "203.0.113.9, 198.51.100.7"), "198.51.100.7");
    assert.equal(await clientOf("127.0.0.0/8, 198.51.100.7", "203.0.113.9, 198.51.100.7"), "203.0.113.9");
    assert.equal(await clientOf("::ffff:127.0.0.1/128", "203.0.113.9"), "203.0.113.9");
    assert.equal(await clientOf("::1", "203.0.113.9"), "::ffff:127.0.0.1");
    assert.equal(await clientOf("::1", "2001:db8::7", "::1"), "2001:db8::7");
  });

  it("should strip ports from IPv4 and bracketed IPv6 entries, and leave a bare IPv6 address whole", async function () {
    assert.equal(await clientOf("127.0.0.1", "203.0.113.9:5678"), "203.0.113.9");
    assert.equal(await clientOf("127.0.0.1", "[2001:db8::1]:5678"), "2001:db8::1");
    assert.equal(await clientOf("127.0.0.1", "[2001:db8::1]"), "2001:db8::1");
    assert.equal(await clientOf("127.0.0.1", "2001:db8::1:5678"), "2001:db8::1:5678");
    assert.equal(await clientOf("127.0.0.1, 10.0.0.0/8", "203.0.113.9:5678, 10.0.0.2:443"), "203.0.113.9");
  });

  it("should read every X-Forwarded-For header, in order", async function () {
    assert.equal(await clientOf("2", ["203.0.113.9", "198.51.100.7"]), "203.0.113.9");
    assert.equal(await clientOf("1", ["203.0.113.9", "198.51.100.7"]), "198.51.100.7");
  });

  it("should count hops from the peer and stop at the left-most entry", async function () {
    assert.equal(await clientOf("1", "203.0.113.9, 198.51.100.7"), "198.51.100.7");
    assert.equal(await clientOf("2", "203.0.113.9, 198.51.100.7"), "203.0.113.9");
    assert.equal(await clientOf("5", "203.0.113.9, 198.51.100.7"), "203.0.113.9");
    assert.equal(await clientOf("1", undefined), "::ffff:127.0.0.1");
  });

  it("should stop at an entry that is not an address, so a mangled hop is never trusted", async function () {
    // 0x0a.0.0.1 would have been 10.0.0.1 to an inet_aton reading, a trusted proxy here.
    assert.equal(await clientOf("127.0.0.1, 10.0.0.0/8", "203.0.113.9, 0x0a.0.0.1"), "0x0a.0.0.1");
    assert.equal(await clientOf("127.0.0.1, 10.0.0.0/8", "203.0.113.9, unknown, 10.0.0.2"), "unknown");
    assert.equal(list("10.0.0.0/8").contains("0x0a.0.0.1"), false);
  });

  it("should refuse a trusted proxy entry that is not an address with a ConfigError naming it", function () {
    assert.throws(() => new ProxyTrust("127.0.0.1, 10.0.0.1:8080"), {
      name: "ConfigError",
      message: 'trusted proxies: "10.0.0.1:8080" is not an IP address or CIDR range',
    });
    assert.throws(() => new ProxyTrust("-1"), {
      name: "ConfigError",
      message: 'trusted proxies: "-1" is not an IP address or CIDR range',
    });
  });
});
