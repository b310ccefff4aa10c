import { ClarusApiError, ClarusClient } from "../api/client";
import { readAutomations } from "../automations/discovery";
import type { ObservedWebhook } from "../connection/observed-identity";
import type { ClarusTuning } from "../connection/services";
import { TRANSACTION_SUBTYPE_EVENTS } from "../events/classify";
import { errorMessage } from "../node-red/errors";
import { planStream } from "../poll/stream-plans";
import { BUILT_IN_STREAMS } from "../poll/streams";
import { introspect } from "../schema/tenant-schema";
import type { FailureCause, TestReport, TestStep } from "./test-report";
import { summarise } from "./test-summary";

/** What the connection dialog holds, typed or deployed: never logged, never echoed. */
export interface ConnectionUnderTest {
  apiUrl: string;
  subdomain: string;
  clientId?: string;
  clientSecret?: string;
  accessToken?: string;
}

const TEST_TIMEOUT_MS = 15_000;

/**
 * Tries a connection as the dialog has it: a token (or the pasted one), the subdomain, the schema,
 * how each built-in stream would read on it, and the automations found. One attempt per request, so
 * the answer comes in seconds; every failure names its cause and no secret.
 */
export type { TestReport, TestStep } from "./test-report";

export async function testConnection(
  input: ConnectionUnderTest,
  tuning: ClarusTuning = {},
): Promise<TestReport> {
  const report = await runTests(input, tuning);
  return withSummary(report, input);
}

/** Adds the plain summary; also for a report extended afterwards (the webhooks step), so call it again then. */
export function withSummary(
  report: TestReport,
  input: Pick<ConnectionUnderTest, "apiUrl" | "accessToken">,
): TestReport {
  const { summary: _old, ...steps } = report;
  const summary = summarise(steps, {
    staticToken: Boolean(input.accessToken?.trim()),
    apiHost: describeUrl(input.apiUrl),
  });
  return { ...steps, summary };
}

async function runTests(input: ConnectionUnderTest, tuning: ClarusTuning): Promise<TestReport> {
  const where = describeUrl(input.apiUrl);
  if (!where)
    return failed({
      ok: false,
      text: "the API URL must be an http(s) URL such as https://clarus-api.com",
      cause: "api-url",
    });
  const subdomain = input.subdomain.trim();
  if (!subdomain) return failed({ ok: false, text: "enter the tenant's subdomain", cause: "no-subdomain" });
  const staticToken = Boolean(input.accessToken?.trim());
  if (!staticToken && !(input.clientId?.trim() && input.clientSecret?.trim())) {
    return failed({
      ok: false,
      text: "no API credentials: enter a client ID and secret, or an access token",
      cause: "no-credentials",
    });
  }
  const client = new ClarusClient({
    apiUrl: input.apiUrl.trim(),
    subdomain,
    clientId: input.clientId?.trim(),
    clientSecret: input.clientSecret?.trim(),
    accessToken: input.accessToken?.trim() || undefined,
    timeoutMs: Math.min(tuning.timeoutMs ?? TEST_TIMEOUT_MS, TEST_TIMEOUT_MS),
    retry: { ...tuning.retry, maxAttempts: 1 },
  });

  try {
    await client.graphql("query ClarusTestConnection { __typename }");
  } catch (error) {
    if (error instanceof ClarusApiError && error.reason === "subdomain") {
      const token = { ok: true, text: staticToken ? "access token accepted" : "token obtained" };
      return {
        ok: false,
        token,
        subdomain: { ok: false, text: error.message },
      };
    }
    return failed({ ok: false, text: cause(error, where, staticToken), cause: causeOf(error) });
  }
  const report: TestReport = {
    ok: true,
    token: { ok: true, text: staticToken ? "access token accepted" : "token obtained" },
    subdomain: { ok: true, text: `${subdomain} accepted` },
  };

  let reading;
  try {
    reading = await introspect(client);
  } catch (error) {
    report.schema = { ok: false, text: `could not be read: ${cause(error, where, staticToken)}` };
    report.ok = false;
    return report;
  }
  report.schema = reading.fallbackReason
    ? { ok: true, text: `${reading.fallbackReason}; the documented fields are used` }
    : { ok: true, text: `read by introspection (${reading.types} types)` };

  report.streams = BUILT_IN_STREAMS.map((stream) => {
    const plan = planStream(stream, reading.model, TRANSACTION_SUBTYPE_EVENTS);
    if ("failure" in plan) return { stream, ok: false, text: plan.failure };
    const lacks = plan.stream.missing.length > 0 ? ` (without ${plan.stream.missing.join(", ")})` : "";
    return { stream, ok: true, text: `ready: reads ${plan.stream.description}${lacks}` };
  });

  try {
    const found = [...(await readAutomations(client, reading.model))].map(([id, event]) => ({ id, event }));
    const text = found.length === 0 ? "none found" : `${found.length} found`;
    report.automations = { ok: true, text, found };
  } catch (error) {
    report.automations = { ok: false, text: `could not be read: ${errorMessage(error)}`, found: [] };
  }
  report.ok = [report.schema, ...report.streams, report.automations].every((step) => step.ok);
  return report;
}

/**
 * The identity headers Clarus last sent to each webhook-in node of the connection, and whether they were
 * accepted: a refused Domain or API-Domain is otherwise only a 403 that Clarus sees.
 */
export function webhookStep(observed: readonly ObservedWebhook[]): TestReport["webhooks"] {
  if (observed.length === 0) return undefined;
  const seen = observed.map((webhook) => ({ ...webhook }));
  const refused = seen.filter((webhook) => webhook.last && !webhook.last.accepted);
  const first = refused[0];
  if (first?.last) {
    const which = refused.length === 1 ? nodeName(first) : `${refused.length} webhook-in nodes`;
    return { ok: false, text: `${which} refused what Clarus sent: ${first.last.problem ?? ""}`, seen };
  }
  const heard = seen.find((webhook) => webhook.last)?.last;
  if (!heard) return { ok: true, text: "no delivery received since the last deploy", seen };
  const values = `Domain ${heard.domain ?? "-"}, API-Domain ${heard.apiDomain ?? "-"}, Subdomain ${heard.subdomain ?? "-"}`;
  return { ok: true, text: `accepted what Clarus sent (${values})`, seen };
}

function nodeName(webhook: ObservedWebhook): string {
  return webhook.name ? `webhook-in "${webhook.name}"` : `webhook-in ${webhook.node}`;
}

function failed(token: TestStep): TestReport {
  return { ok: false, token };
}

/** The API URL's scheme and host, without any user or password it may carry; undefined when not a URL. */
function describeUrl(apiUrl: string): string | undefined {
  try {
    const url = new URL(apiUrl.trim());
    return /^https?:$/.test(url.protocol) ? `${url.protocol}//${url.host}` : undefined;
  } catch {
    return undefined;
  }
}

function causeOf(error: unknown): FailureCause {
  if (!(error instanceof ClarusApiError)) return "other";
  switch (error.reason) {
    case "credentials":
    case "unreachable":
    case "tls":
    case "timeout":
      return error.reason;
    default:
      return "other";
  }
}

/** Why a request failed, in the user's terms: wrong secret, unknown host, refused, TLS, timeout. */
function cause(error: unknown, where: string, staticToken: boolean): string {
  // One attempt is all a test makes; saying so adds nothing.
  const message = errorMessage(error).replace(/\s*\(gave up after \d+ attempts?\)$/, "");
  if (!(error instanceof ClarusApiError)) return message;
  switch (error.reason) {
    case "credentials":
      return staticToken ? message : `wrong client ID or secret: ${message}`;
    case "unreachable":
      return /ENOTFOUND|EAI_/.test(message)
        ? `unknown host: ${where} (${message})`
        : `nothing answers at ${where} (${message})`;
    case "tls":
      return `TLS failed with ${where}, its certificate is not trusted here (${message})`;
    case "timeout":
      return `no answer from ${where} in time (${message})`;
    default:
      return message;
  }
}
