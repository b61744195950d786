/**
 * supervisor: one per host. Starts, restarts and scales replica processes, sums their
 * counters, and serves the admin endpoint: /metrics, /healthz, /readyz, /status,
 * /scale and the live dashboard (a lone `dedup-pool replica` serves the same routes
 * for itself).
 *
 * May import: common, store, amqp, threads, replica.
 */
export { Supervisor, type SupervisorStatus, type SlotStatus } from './supervisor.js';
export { startAdmin, adminRoutes, type AdminSource, type AdminServer, type Route, type StatusReply } from './admin.js';
export { replicaAdminSource } from './replica-status.js';
