import type { FailureCause, TestProblem, TestReport, TestStep, TestSummary } from "./test-report";

const STREAM_NAMES: Record<string, string> = {
  "goods_out.completed": "orders dispatched",
  "goods_in.completed": "goods-in completed",
  "stock.transactions": "stock adjustments and holds",
};

export function summarise(
  report: TestReport,
  context: { staticToken: boolean; apiHost?: string },
): TestSummary {
  const works: string[] = [];
  const problems: TestProblem[] = [];
  const where = context.apiHost ?? "the API URL";

  if (report.token.ok) {
    works.push(
      context.staticToken ? "Clarus accepts the access token." : "Clarus accepts the client ID and secret.",
    );
  } else {
    problems.push(tokenProblem(report.token, context.staticToken, where));
  }
  if (report.subdomain?.ok)
    works.push(`The tenant answers (${report.subdomain.text.replace(/ accepted$/, "")}).`);
  else if (report.subdomain) {
    problems.push({
      problem: "Clarus does not know this subdomain.",
      todo: "Check Subdomain: the tenant key Clarus gave you with the credentials, e.g. acme.",
    });
  }
  if (report.schema?.ok) works.push("Its warehouse data can be read.");
  else if (report.schema) {
    problems.push({
      problem: "The tenant's data could not be read.",
      todo: "Make sure the API user may read the GraphQL API, then test again; Details shows the answer.",
    });
  }
  const ready = (report.streams ?? []).filter((s) => s.ok).map((s) => STREAM_NAMES[s.stream] ?? s.stream);
  if (ready.length > 0) works.push(`A poll node can read ${list(ready)}.`);
  for (const stream of (report.streams ?? []).filter((s) => !s.ok)) {
    problems.push({
      problem: `A poll node cannot read ${STREAM_NAMES[stream.stream] ?? stream.stream} on this tenant.`,
      todo: "Rely on webhooks for those events, or give the poll a custom query; Details says what the tenant lacks.",
    });
  }
  if (report.automations?.ok) {
    const count = report.automations.found.length;
    works.push(
      count === 0
        ? "No automations in Clarus yet: a webhook in node makes them when you choose events under Register and deploy."
        : `${count} automation${count === 1 ? "" : "s"} found in Clarus.`,
    );
  } else if (report.automations) {
    problems.push({
      problem: "The automations could not be listed.",
      todo: "Webhooks still work. To register automations from Node-RED, the API user needs access to them.",
    });
  }
  if (report.webhooks && !report.webhooks.ok) {
    problems.push({
      problem: "A webhook in node refused what Clarus sent.",
      todo: "Compare Subdomain, Login URL and API domain with what Clarus sent (Details), and correct the one that differs.",
    });
  } else if (report.webhooks?.seen.some((webhook) => webhook.last)) {
    works.push("The last webhook from Clarus was accepted.");
  }

  const ok = problems.length === 0;
  const headline = ok
    ? "It works: Node-RED can reach your Clarus tenant with these settings."
    : report.token.ok
      ? `Partly working: ${problems.length} thing${problems.length === 1 ? "" : "s"} to fix.`
      : "Not working yet: Node-RED cannot use the Clarus API with these settings.";
  return { ok, headline, works, problems };
}

function tokenProblem(
  step: TestStep & { cause?: FailureCause },
  staticToken: boolean,
  where: string,
): TestProblem {
  switch (step.cause) {
    case "api-url":
      return {
        problem: "The API URL is not a web address.",
        todo: "Enter https://clarus-api.com, or the API address Clarus gave you.",
      };
    case "no-subdomain":
      return {
        problem: "There is no subdomain.",
        todo: "Enter the tenant key Clarus gave you with the credentials, e.g. acme.",
      };
    case "no-credentials":
      return {
        problem: "There are no API credentials.",
        todo: "Enter the client ID and secret from Clarus, or an access token. Webhooks work without them; poll and graphql nodes do not.",
      };
    case "credentials":
      return staticToken
        ? {
            problem: "Clarus refuses the access token.",
            todo: "Paste it again (it may have expired), or use a client ID and secret.",
          }
        : {
            problem: "Clarus refuses the client ID and secret.",
            todo: "Check both for typing errors and spaces; if they are right, ask Clarus support.",
          };
    case "unreachable":
      return {
        problem: `Nothing answers at ${where}.`,
        todo: "Check the API URL, and that this machine can reach it (a proxy or a firewall in the way?).",
      };
    case "tls":
      return {
        problem: `The certificate of ${where} is not trusted on this machine.`,
        todo: "Check the API URL. Behind a company proxy, give Node.js its certificate (NODE_EXTRA_CA_CERTS).",
      };
    case "timeout":
      return {
        problem: `${where} did not answer in time.`,
        todo: "Test again in a moment; if it goes on, check the network between this machine and Clarus.",
      };
    default:
      return { problem: "The Clarus API refused the request.", todo: "Details shows its answer." };
  }
}

function list(items: string[]): string {
  return items.length <= 1
    ? items.join("")
    : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}
