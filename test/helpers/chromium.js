// Debian's Chromium driven through playwright-core, for the editor tests and the README's screenshots: headless,
// and able to reach nothing but the loopback (the editor must not depend on the internet).
const fs = require("node:fs");

const { chromium } = require("playwright-core");

/** Debian's `chromium` package; CLARUS_CHROMIUM overrides it. */
const CHROMIUM = process.env.CLARUS_CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function isLoopback(url) {
  if (!/^(https?|wss?):$/.test(url.protocol)) return true; // data:, blob:, about:
  return ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
}

function launchChromium() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** Refuses every request of `context` off the loopback, telling `onRefused` its URL. */
function keepOnLoopback(context, onRefused = () => {}) {
  return context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (isLoopback(url)) return route.continue();
    onRefused(url.href);
    return route.abort("blockedbyclient");
  });
}

module.exports = { CHROMIUM, keepOnLoopback, launchChromium };
