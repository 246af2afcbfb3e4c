// Numbered schema migrations: PRAGMA user_version holds how many have run. Append only: a
// migration that has shipped is never edited, a change is a new entry.
import type { Database } from './sqlite.ts'

export const MIGRATIONS: readonly string[] = [
  // 1: results, replay protection, votes
  `
  CREATE TABLE results (
    result_id   TEXT PRIMARY KEY,
    check_name  TEXT NOT NULL,
    vantage     TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    round       INTEGER NOT NULL,
    started_at  TEXT NOT NULL,     -- ISO 8601, as in the result (sorts as text)
    success     INTEGER NOT NULL,
    challenged  INTEGER NOT NULL,
    received_at INTEGER NOT NULL,  -- unix ms, hub clock
    batch_seq   INTEGER NOT NULL,
    json        TEXT NOT NULL      -- the result as the agent signed it (JSON form)
  );
  CREATE INDEX results_by_check ON results (check_name, vantage, started_at);
  CREATE INDEX results_by_agent ON results (agent_id, received_at);

  -- The highest batch seq accepted per agent, so a replay is refused after a restart too.
  CREATE TABLE agent_seq (
    agent_id       TEXT PRIMARY KEY,
    vantage        TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    results_digest TEXT NOT NULL,  -- of that batch's result ids: an exact re-send is a duplicate
    last_seen      INTEGER NOT NULL,
    dropped        INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;

  -- The latest vote per (check, vantage); the representative result is in results.
  CREATE TABLE votes (
    check_name      TEXT NOT NULL,
    vantage         TEXT NOT NULL,
    round           INTEGER NOT NULL,
    interval_ms     INTEGER NOT NULL,
    vote            TEXT NOT NULL,
    impaired        INTEGER NOT NULL,
    agents          TEXT NOT NULL,  -- JSON array of agent ids
    n_results       INTEGER NOT NULL,
    n_success       INTEGER NOT NULL,
    n_challenged    INTEGER NOT NULL,
    n_down          INTEGER NOT NULL,
    n_down_impaired INTEGER NOT NULL,
    result_id       TEXT NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (check_name, vantage)
  ) WITHOUT ROWID;
  `,
]

/** Brings the schema up to date; refuses a store written by a newer hub. */
export function migrate(db: Database, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > MIGRATIONS.length) {
    throw new Error(`${file}: schema version ${current} is newer than this hub knows (${MIGRATIONS.length}); upgrade the hub`)
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v])
      db.pragma(`user_version = ${v + 1}`)
    }).immediate()
  }
}
