// The history index: (check, vantage, started_at) → result, what the review API's history reads.
// Its rows land on scattered pages (one insertion point per check × vantage), so adding ten
// thousand results to it takes tens of milliseconds. It lives in a file of its own,
// history.sqlite beside hub.sqlite, with the results attached read-only: keeping it up to date
// takes that file's write lock, never the results', so no ack ever waits for it. In the hub a
// thread of its own keeps it (hub/store/indexer.ts); a store written in-process steps it itself.
//
// Derived data, rebuilt from the results: every result with id <= the mark is indexed; a crash
// only leaves the rows past the mark to the next step, and history queries read those from the
// results table itself (hub/store/store.ts).
import { dirname, join } from 'node:path'
import { openDatabase, type Database, type Statement } from './sqlite.ts'

export const HISTORY_FILE = 'history.sqlite'

/** How often the history index is brought up to date, and the votes saved (ms). */
export const HISTORY_INDEX_MS = 1000

/** Most results one step indexes (one transaction of the history file). */
const HISTORY_STEP_ROWS = 20_000

/** WAL pages of the history file between checkpoints (SQLite's default: 1000). */
const HISTORY_CHECKPOINT_PAGES = 10_000

/** The history file's page cache, in KiB: the insertion points of every check × vantage. */
const HISTORY_CACHE_KIB = 16 * 1024

const SCHEMA = `
  -- By result_id: the row of results it points to.
  CREATE TABLE IF NOT EXISTS results_history (
    check_name TEXT NOT NULL,
    vantage    TEXT NOT NULL,
    started_at TEXT NOT NULL,
    result_id  TEXT NOT NULL,
    PRIMARY KEY (check_name, vantage, started_at, result_id)
  ) WITHOUT ROWID;
  -- One row: every result with id <= indexed_to is in results_history (re-indexing is harmless).
  CREATE TABLE IF NOT EXISTS results_history_mark (
    one        INTEGER PRIMARY KEY CHECK (one = 1),
    indexed_to INTEGER NOT NULL
  );
`

/** The history file of the store whose results are in `storeFile`. */
function historyFileOf(storeFile: string): string {
  return join(dirname(storeFile), HISTORY_FILE)
}

/** Attaches the history file (created if missing) to a connection of the store, as `history`. */
export function attachHistory(db: Database, storeFile: string): void {
  db.prepare('ATTACH DATABASE ? AS history').run(historyFileOf(storeFile))
  db.exec(SCHEMA.replaceAll('IF NOT EXISTS ', 'IF NOT EXISTS history.'))
  db.pragma('history.journal_mode = WAL')
}

export class HistoryIndex {
  private readonly sql: {
    maxId: Statement<{ id: number | null }>
    indexRange: Statement
    putMark: Statement
  }
  private readonly stepTx: (upTo: number) => void
  private indexedTo: number

  private constructor(private readonly db: Database) {
    this.sql = {
      maxId: db.prepare('SELECT max(id) AS id FROM store.results'),
      indexRange: db.prepare(
        `INSERT OR IGNORE INTO results_history (check_name, vantage, started_at, result_id)
         SELECT check_name, vantage, started_at, result_id FROM store.results WHERE id > ? AND id <= ?`,
      ),
      putMark: db.prepare('INSERT OR REPLACE INTO results_history_mark (one, indexed_to) VALUES (1, ?)'),
    }
    // DEFERRED (better-sqlite3's default): IMMEDIATE would take the write lock of every attached
    // file, the results' too. This one only reads the results, from a snapshot.
    this.stepTx = db.transaction((upTo: number) => {
      this.sql.indexRange.run(this.indexedTo, upTo)
      this.sql.putMark.run(upTo)
    })
    this.indexedTo = readHistoryMark(db, 'main')
  }

  /** A connection of its own to the history file of `storeFile` (the store's, opened and migrated). */
  static open(storeFile: string): HistoryIndex {
    const db = openDatabase(historyFileOf(storeFile))
    try {
      db.pragma('journal_mode = WAL')
      // Derived rows: a crash losing the last steps only leaves them to be redone. Checkpoints
      // (each with its fsyncs, which the results' own fsyncs then wait behind) seldom.
      db.pragma('synchronous = NORMAL')
      db.pragma(`wal_autocheckpoint = ${HISTORY_CHECKPOINT_PAGES}`)
      db.pragma(`cache_size = ${-HISTORY_CACHE_KIB}`)
      db.exec(SCHEMA)
      db.prepare('ATTACH DATABASE ? AS store').run(storeFile)
      return new HistoryIndex(db)
    } catch (err) {
      db.close()
      throw err
    }
  }

  /** Indexes up to `maxRows` results past the mark, in one transaction; returns how many ids it covered. */
  step(maxRows = HISTORY_STEP_ROWS): number {
    const last = this.sql.maxId.get()?.id ?? 0
    // Results behind the mark: the store was restored from an older copy (its ids are handed out
    // again). This index is of another store: it starts over.
    if (last < this.indexedTo) this.startOver()
    if (last <= this.indexedTo) return 0
    const upTo = Math.min(last, this.indexedTo + maxRows)
    try {
      this.stepTx(upTo)
    } catch (err) {
      this.indexedTo = readHistoryMark(this.db, 'main')
      throw err
    }
    const covered = upTo - this.indexedTo
    this.indexedTo = upTo
    return covered
  }

  private startOver(): void {
    this.db.transaction(() => {
      this.db.exec('DELETE FROM results_history')
      this.sql.putMark.run(0)
    })()
    this.indexedTo = 0
  }

  /** Steps until every result committed so far is indexed. */
  catchUp(): void {
    while (this.step() > 0) {
      // next step
    }
  }

  get mark(): number {
    return this.indexedTo
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}

/** The history mark, read through a connection where the history file is `schema`. */
export function readHistoryMark(db: Database, schema: 'main' | 'history'): number {
  return db.prepare<{ indexed_to: number }>(`SELECT indexed_to FROM ${schema}.results_history_mark`).get()?.indexed_to ?? 0
}
