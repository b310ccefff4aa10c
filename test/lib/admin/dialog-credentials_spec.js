const assert = require("node:assert/strict");

const {
  STORED_SECRET,
  dialogCredentials,
  sameApiUrl,
} = require("../../../build/nodes/lib/admin/dialog-credentials.js");

describe("dialog credentials: typed, else stored for the same API URL", function () {
  const deployed = {
    apiUrl: "https://api.clarus.example/graphql",
    credentials: { clientId: "stored-id", clientSecret: "stored-secret", webhookToken: "stored-token" },
  };

  it("should take what is typed over what is stored, an empty field included", function () {
    const typed = { clientId: "typed-id", clientSecret: "", accessToken: "typed-access" };
    assert.deepEqual(dialogCredentials(typed, deployed.apiUrl, deployed), {
      clientId: "typed-id",
      clientSecret: "",
      accessToken: "typed-access",
      webhookToken: "stored-token",
    });
  });

  it("should resolve a placeholder from the deployed connection of the same API URL, spelt another way", function () {
    const typed = { clientId: "stored-id", clientSecret: STORED_SECRET };
    const credentials = dialogCredentials(typed, "https://API.clarus.example:443/graphql/", deployed);
    assert.equal(credentials.clientSecret, "stored-secret");
  });

  it("should refuse a placeholder for another API URL, and for a connection not deployed", function () {
    const typed = { clientSecret: STORED_SECRET };
    assert.throws(
      () => dialogCredentials(typed, "https://elsewhere.example/graphql", deployed),
      /the API URL changed since deploy: type the secret again/,
    );
    assert.throws(
      () => dialogCredentials(typed, deployed.apiUrl, undefined),
      /belongs to a connection that is not deployed: type it again/,
    );
  });

  it("should send no stored secret to another API URL when the field was not sent at all", function () {
    assert.deepEqual(dialogCredentials(undefined, "https://elsewhere.example/graphql", deployed), {});
    assert.deepEqual(dialogCredentials({ clientId: "x" }, "http://api.clarus.example/graphql", deployed), {
      clientId: "x",
    });
  });

  it("should tell API URLs apart by scheme, host, port and path, not by host case or a trailing slash", function () {
    assert.ok(sameApiUrl("https://a.example/graphql", "https://A.example/graphql/"));
    assert.ok(!sameApiUrl("https://a.example/graphql", "https://a.example:8443/graphql"));
    assert.ok(!sameApiUrl("https://a.example/graphql", "https://a.example/v2/graphql"));
    assert.ok(!sameApiUrl("https://a.example/graphql", undefined));
  });
});
