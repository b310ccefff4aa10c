import type { RequestHandler } from "express";

import type { RecentDeliveries } from "../connection/recent-deliveries";
import type { Delivery } from "../delivery/delivery";
import { withConnection } from "./deployed-connection";

/** What the endpoints read of a deployed connection (its ConnectionServices). */
export interface RecentSource {
  recent: Pick<RecentDeliveries, "list" | "message">;
  delivery: Pick<Delivery, "sendThrough">;
}

type Find = (id: string) => RecentSource | undefined;

/**
 * `GET <admin root>/clarus-wms/connections/:id/recent`: the last accepted webhook deliveries of the
 * connection's webhook-in nodes, newest first, the token taken out of headers and payload.
 */
export function recentHandler(find: Find): RequestHandler {
  return withConnection(find, (services, _req, res) => {
    res.set("Cache-Control", "no-store").json(services.recent.list());
  });
}

/**
 * `POST …/recent/:delivery/send`: sends a kept delivery into the flow once more through its webhook-in, as it
 * is shown (token taken out), marked `msg.clarus.replayed`. Outside the inbox: it is not sent again if no
 * clarus-confirm sees it. 404 when the delivery is no longer kept or its node no longer sends.
 */
export function sendRecentHandler(find: Find, generateId: () => string): RequestHandler {
  return withConnection(find, (services, req, res) => {
    const kept = services.recent.message(String(req.params.delivery), generateId());
    if (!kept) {
      res.status(404).json({ error: `delivery ${req.params.delivery} is not kept (any more)` });
      return;
    }
    if (!services.delivery.sendThrough(kept.node, kept.msg)) {
      res.status(404).json({ error: `its node ${kept.node} does not send here now` });
      return;
    }
    res.json({ sent: true });
  });
}
