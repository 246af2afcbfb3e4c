// The hub's store opens SQLite through the same typed loader as the agent's outbox.
export * from '../../agent/daemon/sqlite.ts'
