import type { DueRequest } from "./connection-store";

/**
 * How long after its due time an entry of `sourceNodeId` may be taken under `request`: 0 for a node the caller
 * sends for, the grace for a node gone from the flows, undefined for a node that is another's to send. Each
 * node is asked about once per request (the deployed flows are walked for each).
 */
export function dueGrace(request: DueRequest): (sourceNodeId: string) => number | undefined {
  const known = new Map<string, number | undefined>();
  return (sourceNodeId) => {
    if (request.sources.has(sourceNodeId)) return 0;
    if (known.has(sourceNodeId)) return known.get(sourceNodeId);
    const grace = request.isDeployed(sourceNodeId) ? undefined : Math.max(0, request.goneSourceGraceMs);
    known.set(sourceNodeId, grace);
    return grace;
  };
}
