import type { Request, RequestHandler, Response } from "express";

/**
 * A handler of a route under `/clarus-wms/connections/:id/`: `handle` gets the deployed connection's services,
 * and a connection of that id that is not deployed is a 404 with the reason.
 */
export function withConnection<T>(
  find: (id: string) => T | undefined,
  handle: (services: T, req: Request, res: Response) => void,
): RequestHandler {
  return (req, res) => {
    const services = find(String(req.params.id));
    if (!services) {
      res.status(404).json({ error: `no deployed clarus-connection ${req.params.id}` });
      return;
    }
    handle(services, req, res);
  };
}
