// An HTTPS server on loopback with a self-signed certificate made by openssl (a Debian package .ci/run
// installs): a host whose certificate no client trusts, for the TLS failure paths.
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const https = require("node:https");
const os = require("node:os");
const path = require("node:path");

async function startSelfSignedServer(handler = (_req, res) => res.end("{}")) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clarus-tls-"));
  const key = path.join(dir, "key.pem");
  const cert = path.join(dir, "cert.pem");
  execFileSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
      ...["-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
    ],
    { stdio: "ignore" },
  );
  const server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, handler);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `https://127.0.0.1:${server.address().port}`,
    close() {
      fs.rmSync(dir, { recursive: true, force: true });
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

module.exports = { startSelfSignedServer };
