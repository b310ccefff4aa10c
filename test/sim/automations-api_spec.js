const assert = require("node:assert/strict");

const { SIM, fetchToken, gql, startReceiver } = require("./helpers");

/** A webhook automation's JSON:API create body, as Clarus documents it for `POST /api/automations`. */
function webhookDocument(
  url,
  { event = "completed", resource = "goods_out", name = "hook", method = "POST" } = {},
) {
  return {
    data: {
      type: "automations",
      attributes: {
        resource_name: resource,
        event,
        name,
        enabled: true,
        conditions_changes: [],
        actions_changes: [
          {
            type: "ADD",
            attributes: {
              destination_type: "webhook",
              destination_code: "default",
              parameters_changes: [
                { type: "ADD", attributes: { parameter_code: "webhook_url", value: url } },
                { type: "ADD", attributes: { parameter_code: "webhook_method", value: method } },
              ],
            },
          },
        ],
      },
    },
  };
}

describe("clarus simulator: REST automations API", function () {
  let sim;
  let token;
  let receiver;

  async function rest(method, path, body, headers = {}) {
    const res = await fetch(`${sim.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        "x-clarus-subdomain": sim.subdomain,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, headers: res.headers, body: json };
  }

  beforeEach(async function () {
    sim = await SIM.startSimulator({ seed: 3, history: 0 });
    token = await fetchToken(sim);
    receiver = await startReceiver();
  });

  afterEach(async function () {
    await sim.stop();
    await receiver.close();
  });

  it("should create an automation with an integer id, list it in GraphQL and fire its webhook", async function () {
    const created = await rest("POST", "/api/automations", webhookDocument(receiver.url, { name: "mine" }));
    assert.equal(created.status, 200);
    assert.equal(created.body.data.type, "automations");
    assert.equal(typeof created.body.data.id, "number");
    assert.deepEqual(created.body.data.attributes, {
      resource_name: "goods_out",
      event: "completed",
      enabled: true,
    });

    const { body } = await gql(
      sim,
      token,
      `{ automations { all(filter: { name: { eq: "mine" } }) { edges { node { id name resource_name event enabled } } } } }`,
    );
    assert.deepEqual(body.data.automations.all.edges, [
      {
        node: {
          id: String(created.body.data.id),
          name: "mine",
          resource_name: "goods_out",
          event: "completed",
          enabled: true,
        },
      },
    ]);

    sim.generate(1, ["goods_out.completed"]);
    await sim.flush();
    assert.equal(receiver.requests.length, 1);
    assert.equal(receiver.requests[0].headers["x-claruswms-automation-id"], String(created.body.data.id));
  });

  it("should read an automation with its actions and parameters, and list by name", async function () {
    const { body } = await rest("POST", "/api/automations", webhookDocument(receiver.url, { name: "a" }));
    await rest("POST", "/api/automations", webhookDocument(receiver.url, { name: "b" }));
    const read = await rest("GET", `/api/automations/${body.data.id}`);
    assert.equal(read.status, 200);
    const [action] = read.body.data.attributes.actions;
    assert.equal(action.destination_type, "webhook");
    assert.deepEqual(
      action.parameters.map((p) => [p.parameter_code, p.value, typeof p.id]),
      [
        ["webhook_url", receiver.url, "number"],
        ["webhook_method", "POST", "number"],
      ],
    );
    const listed = await rest("GET", "/api/automations?filter%5Bname%5D=b");
    assert.deepEqual(
      listed.body.data.map((a) => a.attributes.name),
      ["b"],
    );
  });

  it("should apply UPDATE, DESTROY and ADD changes in a PATCH", async function () {
    const { body } = await rest("POST", "/api/automations", webhookDocument("http://127.0.0.1:9/old"));
    const id = body.data.id;
    const [action] = (await rest("GET", `/api/automations/${id}`)).body.data.attributes.actions;
    const [url, method] = action.parameters;
    const patched = await rest("PATCH", `/api/automations/${id}`, {
      data: {
        type: "automations",
        attributes: {
          enabled: true,
          actions_changes: [
            {
              type: "UPDATE",
              id: action.id,
              attributes: {
                parameters_changes: [
                  { type: "UPDATE", id: url.id, attributes: { value: receiver.url } },
                  { type: "DESTROY", id: method.id },
                  { type: "ADD", attributes: { parameter_code: "webhook_method", value: "GET" } },
                ],
              },
            },
          ],
        },
      },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual(sim.webhookTargets(id), [
      { id, integration_id: null, url: receiver.url, method: "GET" },
    ]);
    sim.generate(1, ["goods_out.completed"]);
    await sim.flush();
    assert.deepEqual(
      receiver.requests.map((r) => r.method),
      ["GET"],
    );
  });

  it("should send one request per webhook action, so a second action means a second delivery", async function () {
    const { body } = await rest("POST", "/api/automations", webhookDocument(receiver.url));
    const second = webhookDocument(receiver.url).data.attributes.actions_changes;
    const patched = await rest("PATCH", `/api/automations/${body.data.id}`, {
      data: { type: "automations", attributes: { actions_changes: second } },
    });
    assert.equal(patched.status, 200);
    sim.generate(1, ["goods_out.completed"]);
    await sim.flush();
    assert.equal(receiver.requests.length, 2);
  });

  it("should delete with 204 and no body, and answer 404 in the errors shape after", async function () {
    const { body } = await rest("POST", "/api/automations", webhookDocument(receiver.url));
    const deleted = await rest("DELETE", `/api/automations/${body.data.id}`);
    assert.equal(deleted.status, 204);
    assert.equal(deleted.body, undefined);
    const again = await rest("DELETE", `/api/automations/${body.data.id}`);
    assert.equal(again.status, 404);
    assert.equal(again.body.errors[0].code, 404);
    assert.equal(again.body.errors[0].symbol, "not_found");
    sim.generate(1, ["goods_out.completed"]);
    await sim.flush();
    assert.equal(receiver.requests.length, 0);
  });

  it("should refuse bad changes with 422 naming the field, and leave the automation unchanged", async function () {
    const onCreate = webhookDocument(receiver.url);
    onCreate.data.attributes.actions_changes[0].type = "UPDATE";
    onCreate.data.attributes.actions_changes[0].id = 1;
    const refused = await rest("POST", "/api/automations", onCreate);
    assert.equal(refused.status, 422);
    assert.equal(refused.body.errors[0].source, "actions_changes[0].type");

    const badUrl = await rest("POST", "/api/automations", webhookDocument("ftp://example.com/x"));
    assert.equal(badUrl.status, 422);
    assert.deepEqual(
      { code: badUrl.body.errors[0].code, source: badUrl.body.errors[0].source },
      { code: 422, source: "webhook_url" },
    );
    const badEvent = await rest(
      "POST",
      "/api/automations",
      webhookDocument(receiver.url, { event: "exploded" }),
    );
    assert.equal(badEvent.body.errors[0].source, "event");
    const missing = webhookDocument(receiver.url);
    delete missing.data.attributes.conditions_changes;
    assert.equal(
      (await rest("POST", "/api/automations", missing)).body.errors[0].source,
      "conditions_changes",
    );

    const { body } = await rest("POST", "/api/automations", webhookDocument(receiver.url));
    const breaking = await rest("PATCH", `/api/automations/${body.data.id}`, {
      data: {
        type: "automations",
        attributes: {
          enabled: false,
          actions_changes: [{ type: "DESTROY", id: 99999 }],
        },
      },
    });
    assert.equal(breaking.status, 422);
    assert.equal(breaking.body.errors[0].source, "actions_changes[0].id");
    assert.deepEqual(sim.webhookTargets(body.data.id), [
      { id: body.data.id, integration_id: null, url: receiver.url, method: "POST" },
    ]);
  });

  it("should check the bearer token (401 error shape) and the tenant header (403 errors shape)", async function () {
    const noToken = await rest("GET", "/api/automations", undefined, { authorization: "" });
    assert.equal(noToken.status, 401);
    assert.equal(typeof noToken.body.error, "string");
    const wrongTenant = await rest("POST", "/api/automations", webhookDocument(receiver.url), {
      "x-clarus-subdomain": "other",
    });
    assert.equal(wrongTenant.status, 403);
    assert.equal(wrongTenant.body.errors[0].symbol, "subdomain_invalid");
    assert.equal(sim.store.automations.size, 0);
    const notJson = await fetch(`${sim.url}/api/automations`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "x-clarus-subdomain": sim.subdomain },
      body: "{",
    });
    assert.equal(notJson.status, 400);
    const wrongMethod = await rest("PUT", "/api/automations/1", {});
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get("allow"), "GET, PATCH, DELETE");
  });

  it("should answer only the documented endpoints when reads are off", async function () {
    sim.automationsApi.reads = false;
    const { body } = await rest("POST", "/api/automations", webhookDocument(receiver.url));
    assert.equal((await rest("GET", `/api/automations/${body.data.id}`)).status, 404);
    assert.equal((await rest("GET", "/api/automations")).status, 404);
    assert.equal((await rest("DELETE", `/api/automations/${body.data.id}`)).status, 204);
  });

  it("should fail the nth create on purpose, and echo the URL back in a 422", async function () {
    sim.automationsApi.setFaults([
      { operation: "create", nth: 2, status: 503 },
      { operation: "update", status: 422 },
    ]);
    const first = await rest("POST", "/api/automations", webhookDocument(receiver.url));
    const second = await rest("POST", "/api/automations", webhookDocument(receiver.url));
    const third = await rest("POST", "/api/automations", webhookDocument(receiver.url));
    assert.deepEqual([first.status, second.status, third.status], [200, 503, 200]);
    assert.match(second.headers.get("content-type"), /text\/html/);
    const echoed = await rest(
      "PATCH",
      `/api/automations/${first.body.data.id}`,
      webhookDocument(receiver.url),
    );
    assert.equal(echoed.status, 422);
    assert.equal(echoed.body.errors[0].source, "webhook_url");
    assert.ok(echoed.body.errors[0].details.includes(receiver.url), echoed.body.errors[0].details);
    assert.deepEqual(sim.automationsApi.faultsFired, { list: 0, read: 0, create: 1, update: 1, delete: 0 });
    assert.equal(sim.automationsApi.counts.create, 3);
    assert.equal(sim.store.automations.size, 2);
  });
});
