// Flow fixtures and Clarus request headers shared by specs, the install test and the bench. It loads
// nothing from build/, so a spec that packs the package can use it while a build is under way.
const { fileRecorder } = require("./output-file");

const TOKEN = "s3cret-token-0123456789abcdef";

const CLARUS_HEADERS = {
  "X-ClarusWMS-Domain": "https://acme.claruswms.co.uk",
  "X-ClarusWMS-API-Domain": "https://clarus-api.com",
  "X-ClarusWMS-Subdomain": "acme",
  "X-ClarusWMS-Automation-ID": "43",
  "X-ClarusWMS-Integration-ID": "723",
};

function connectionConfig(overrides = {}) {
  return {
    id: "conn",
    type: "clarus-connection",
    name: "acme",
    subdomain: "acme",
    domain: "https://acme.claruswms.co.uk",
    apiUrl: "https://clarus-api.com",
    automations: [{ id: "43", event: "goods_out.completed" }],
    dedupeHours: 72,
    dedupeCapacity: 1000,
    ...overrides,
  };
}

function webhookConfig(overrides = {}) {
  return {
    id: "hook",
    type: "clarus-webhook-in",
    connection: "conn",
    path: "/clarus/events",
    method: "POST",
    event: "auto",
    automationIds: "",
    requireToken: true,
    allowIps: "",
    trustProxy: "none",
    maxBytes: 1048576,
    dedupe: true,
    duplicatesOutput: false,
    wires: [["out"]],
    ...overrides,
  };
}

/** A dispatched sales order as Clarus's REST-style webhook body carries it. */
const dispatched = (id) => ({
  id,
  reference: `SO-${id}`,
  goods_out_type: "sales_order",
  goods_out_status_id: 6,
  actual_date_of_dispatch: "2026-11-27T10:00:00Z",
});

/** A core delay node holding each message `timeout` `timeoutUnits` (a flow's slow step: an ERP call). */
function delayNode(id, { timeout, timeoutUnits, ...props }) {
  return {
    id,
    type: "delay",
    pauseType: "delay",
    timeout: String(timeout),
    timeoutUnits,
    rate: "1",
    nbRateUnits: "1",
    rateUnits: "second",
    randomFirst: "1",
    randomLast: "5",
    randomUnits: "seconds",
    drop: false,
    allowrate: false,
    outputs: 1,
    ...props,
  };
}

/**
 * A flow's tail that records what reaches it and confirms only what it passes on: a function node `record`
 * running `func` (it writes msg.payload as one line and returns the message to confirm, or null), a file node
 * appending that line to `output`, and a clarus-confirm. Wire a source to "record".
 */
function recordAndConfirm({ z, output, func, x = 400, y = 80 }) {
  return [
    ...fileRecorder({ id: "record", z, file: output, func, x, y, next: ["confirmer"] }),
    {
      id: "confirmer",
      type: "clarus-confirm",
      z,
      action: "confirm",
      retrySeconds: 60,
      x: x + 320,
      y,
      wires: [[]],
    },
  ];
}

module.exports = {
  TOKEN,
  CLARUS_HEADERS,
  connectionConfig,
  webhookConfig,
  dispatched,
  delayNode,
  recordAndConfirm,
};
