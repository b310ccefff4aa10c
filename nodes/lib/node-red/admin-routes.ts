import type { RequestHandler } from "express";
import type { NodeAPI } from "node-red";

/**
 * Node-RED's admin permission check for our editor routes (`clarus-connection.read`, `.write`). Every
 * runtime gives RED.auth; without it (an embedding that leaves it out) the route stays open, as the
 * editor itself would be.
 */
export function adminPermission(RED: NodeAPI, permission: string): RequestHandler {
  return typeof RED.auth?.needsPermission === "function"
    ? RED.auth.needsPermission(permission)
    : (_req, _res, next) => next();
}
