/**
 * Preloaded into the demo's Node-RED (`node --require`): when the demo process is gone, even killed
 * outright, the IPC channel to it closes and Node-RED stops as on Ctrl-C, so nothing is left holding
 * the port.
 */
process.on("disconnect", () => process.kill(process.pid, "SIGINT"));
