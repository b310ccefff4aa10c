/**
 * Clarus WMS simulator: a loopback fake of the Clarus API (OAuth, GraphQL, REST automations) and webhook sender for tests
 * and the demo. Not shipped in the package.
 */
import { Simulator, type SimulatorOptions } from "./simulator";

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = new Simulator(options);
  return sim.listen(options.port ?? 0);
}

export { Simulator };
export type { TokenGrant } from "./auth";
export type { WebhookTarget } from "./automations";
export type { AutomationFault, AutomationOperation } from "./automations-api";
export {
  ALL_SIM_EVENTS,
  GOODS_OUT_STATUS_ID,
  GOODS_OUT_STATUSES,
  SIM_EVENTS,
  TASK_STATUS,
  TASK_TYPE,
  TRANSACTION_CATEGORY,
  TRANSACTION_SUBTYPE,
} from "./constants";
export { SCHEMA_DIALECTS, type SchemaDialect } from "./dialects";
export type { FaultCounts, FaultKind, FaultOptions } from "./faults";
export { decodeCursor, DEFAULT_PAGE_SIZE, encodeCursor, MAX_PAGE_SIZE } from "./paging";
export type { RequestLogEntry } from "./server";
export type {
  ActivityOptions,
  AutomationInput,
  AutomationPatch,
  RequestCounters,
  SimulatorEvents,
  SimulatorOptions,
} from "./simulator";
export type { Delivery, SimEvent, WebhookOptions } from "./webhooks";
