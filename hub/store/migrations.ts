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
  // 2: the quorum engine's decisions (hub/quorum/engine.ts): per-check state, per-vantage
  // effective votes, operator mutes and acks, incidents. Restored on start, so a restarted hub
  // neither re-opens nor forgets an outage.
  `
  CREATE TABLE quorum_checks (
    check_name         TEXT PRIMARY KEY,
    state              TEXT NOT NULL,     -- ok | pending | outage | unknown
    since              INTEGER NOT NULL,  -- unix ms, when state was entered
    clear_since        INTEGER,           -- outage: since when fewer than K are down (resolve_after)
    disagreement_since INTEGER,           -- null: no disagreement
    incident_id        INTEGER,           -- the open incident, if any
    ack_id             INTEGER,           -- the current acknowledgement, if any
    updated_at         INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- The effective vote of each vantage (up/down/challenged/stale/muted), and since when.
  CREATE TABLE quorum_vantages (
    check_name     TEXT NOT NULL,
    vantage        TEXT NOT NULL,
    vote           TEXT NOT NULL,
    impaired       INTEGER NOT NULL,
    since          INTEGER NOT NULL,
    down_result_id TEXT,              -- first result of the current down streak (incident evidence)
    PRIMARY KEY (check_name, vantage)
  ) WITHOUT ROWID;

  CREATE TABLE vantage_mutes (
    vantage    TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    until      INTEGER,               -- unix ms; null: until unmuted
    muted_by   TEXT,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE check_acks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    check_name  TEXT NOT NULL,
    note        TEXT NOT NULL,
    acked_by    TEXT,
    at          INTEGER NOT NULL,
    incident_id INTEGER
  );
  CREATE INDEX check_acks_by_incident ON check_acks (incident_id);

  CREATE TABLE incidents (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    check_name       TEXT NOT NULL,
    started_at       INTEGER NOT NULL,
    pending_since    INTEGER NOT NULL,
    ended_at         INTEGER,
    resolution       TEXT,
    failing_vantages TEXT NOT NULL,   -- JSON array
    evidence         TEXT NOT NULL    -- JSON [{vantage, first, last}] (results inline: evidence outlives history)
  );
  CREATE INDEX incidents_by_check ON incidents (check_name, started_at);
  CREATE INDEX incidents_open ON incidents (ended_at);
  `,
  // 3: no per-result index maintained in the ack transaction. The history index (check,
  // vantage, started_at), whose inserts land on scattered pages (15+ KiB written per 1 KiB
  // result), becomes a table of its own, filled from the results in arrival (rowid) order by a
  // background transaction (hub/store/store.ts, indexHistory); results_history_mark says how
  // far it got. results_by_agent served no query. The results table itself is unchanged.
  `
  DROP INDEX results_by_agent;
  DROP INDEX results_by_check;

  -- By result_id, not rowid: VACUUM may renumber the rowids of a table without INTEGER PRIMARY KEY.
  CREATE TABLE results_history (
    check_name TEXT NOT NULL,
    vantage    TEXT NOT NULL,
    started_at TEXT NOT NULL,
    result_id  TEXT NOT NULL,
    PRIMARY KEY (check_name, vantage, started_at, result_id)
  ) WITHOUT ROWID;
  INSERT INTO results_history SELECT check_name, vantage, started_at, result_id FROM results;

  -- One row: every result with rowid <= indexed_to is in results_history (re-indexing is harmless).
  CREATE TABLE results_history_mark (
    one        INTEGER PRIMARY KEY CHECK (one = 1),
    indexed_to INTEGER NOT NULL
  );
  INSERT INTO results_history_mark VALUES (1, (SELECT coalesce(max(rowid), 0) FROM results));
  `,
  // 4: a result is stored as the protobuf bytes its agent signed (about half the size of its
  // JSON, and no re-encoding on the ingest path), with only the columns that dedupe and the
  // history index need. Rows from before keep their JSON form. `id` is the arrival order, an
  // INTEGER PRIMARY KEY so VACUUM keeps it (results_history_mark counts in it).
  `
  CREATE TABLE results_v4 (
    id          INTEGER PRIMARY KEY,
    result_id   TEXT NOT NULL UNIQUE,
    check_name  TEXT NOT NULL,
    vantage     TEXT NOT NULL,
    started_at  TEXT NOT NULL,     -- ISO 8601, as in the result (sorts as text)
    received_at INTEGER NOT NULL,  -- unix ms, hub clock
    body        BLOB,              -- vantage.v1.ProbeResult, the bytes the agent signed
    json        TEXT,              -- results stored before schema 4 (JSON form); null when body is set
    CHECK ((body IS NULL) <> (json IS NULL))
  );
  INSERT INTO results_v4 (id, result_id, check_name, vantage, started_at, received_at, json)
    SELECT rowid, result_id, check_name, vantage, started_at, received_at, json FROM results ORDER BY rowid;
  DROP TABLE results;
  ALTER TABLE results_v4 RENAME TO results;
  `,
  // 5: the history index moves to a file of its own (history.sqlite, hub/store/history.ts), kept
  // up to date by a thread of its own: its steps (tens of ms for scattered inserts) held the
  // results' write lock, and every ack waited behind them. It is rebuilt there from the results.
  // What the votes table reflects gets a mark of its own (it was the history index's).
  `
  CREATE TABLE votes_mark (
    one           INTEGER PRIMARY KEY CHECK (one = 1),
    saved_through INTEGER NOT NULL  -- every result with id <= this is in the votes table
  );
  INSERT INTO votes_mark SELECT 1, indexed_to FROM results_history_mark;
  DROP TABLE results_history;
  DROP TABLE results_history_mark;
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
