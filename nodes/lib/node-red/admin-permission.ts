import type { RequestHandler } from "express";
import type { NodeAPI } from "node-red";

/**
 * Node-RED's admin auth for an admin endpoint of ours (`RED.auth.needsPermission`), so with `adminAuth`
 * only users holding `permission` reach it. Every runtime gives RED.auth; without it the route stays open.
 */
export function adminPermission(RED: NodeAPI, permission: string): RequestHandler {
  return typeof RED.auth?.needsPermission === "function"
    ? RED.auth.needsPermission(permission)
    : (_req, _res, next) => next();
}
