"""Versioned schema migrations of the run store.

Every schema change is a named migration in the set ``"cast_store"``; sqlite-utils
records the applied names in ``_sqlite_migrations``, so a database keeps its rows
when a later version of the engine adds migrations. Rules for new migrations:

* never edit or rename a migration that has shipped; add ``"0002_..."`` instead;
* prefer additive changes (``ALTER TABLE ... ADD COLUMN``, new tables, new
  indexes), which keep every existing row;
* new JSON columns must be added to ``JSON_COLUMNS`` in ``codec.py`` to be parsed.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATION_SET = "cast_store"

MIGRATIONS = Migrations(MIGRATION_SET)

_INITIAL_STATEMENTS = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT,
        status TEXT NOT NULL,
        reason TEXT,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        method TEXT,
        task TEXT,
        variant TEXT,
        regime TEXT,
        model TEXT,
        seed INTEGER,
        config TEXT NOT NULL,
        trainable_params INTEGER,
        total_params INTEGER,
        versions TEXT,
        data_hashes TEXT,
        results TEXT,
        best_epoch INTEGER,
        wall_time_s REAL,
        pid INTEGER,
        host TEXT,
        sweep_id INTEGER,
        artifact_dir TEXT
    )
    """,
    """
    CREATE TABLE epochs (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        stage TEXT NOT NULL,
        train_loss REAL,
        lr REAL,
        elapsed_s REAL,
        val_factual REAL,
        val_counterfactual REAL,
        val_combined REAL,
        val_pair REAL,
        metrics TEXT,
        UNIQUE (run_id, epoch, stage)
    )
    """,
    """
    CREATE TABLE masks (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        epoch INTEGER NOT NULL,
        kept INTEGER NOT NULL,
        eligible INTEGER NOT NULL,
        jaccard REAL,
        per_layer TEXT
    )
    """,
    "CREATE INDEX idx_runs_method ON runs(method)",
    "CREATE INDEX idx_runs_task ON runs(task)",
    "CREATE INDEX idx_runs_variant ON runs(variant)",
    "CREATE INDEX idx_runs_regime ON runs(regime)",
    "CREATE INDEX idx_runs_model ON runs(model)",
    "CREATE INDEX idx_runs_seed ON runs(seed)",
    "CREATE INDEX idx_runs_status ON runs(status)",
    "CREATE INDEX idx_runs_created_at ON runs(created_at)",
    "CREATE INDEX idx_runs_sweep_id ON runs(sweep_id)",
    "CREATE INDEX idx_epochs_run_id ON epochs(run_id)",
    "CREATE INDEX idx_masks_run_id_epoch ON masks(run_id, epoch)",
)


@MIGRATIONS(name="0001_initial")
def initial_schema(db: Database) -> None:
    """Create the runs, epochs and masks tables with their indexes."""
    for statement in _INITIAL_STATEMENTS:
        db.execute(statement)


_SWEEP_STATEMENTS = (
    """
    CREATE TABLE sweeps (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        spec TEXT NOT NULL,
        spec_hash TEXT NOT NULL,
        n_trials INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT,
        pid INTEGER,
        host TEXT
    )
    """,
    "CREATE INDEX idx_sweeps_spec_hash ON sweeps(spec_hash)",
    "ALTER TABLE runs ADD COLUMN trial_key TEXT",
    "ALTER TABLE runs ADD COLUMN fingerprint TEXT",
    "CREATE INDEX idx_runs_sweep_trial ON runs(sweep_id, trial_key)",
    "CREATE INDEX idx_runs_fingerprint ON runs(fingerprint)",
    """
    CREATE TABLE predictions (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        split TEXT NOT NULL,
        predicted TEXT NOT NULL,
        gold TEXT NOT NULL,
        PRIMARY KEY (run_id, split)
    )
    """,
)


@MIGRATIONS(name="0002_sweeps_and_predictions")
def sweeps_and_predictions(db: Database) -> None:
    """Sweeps (a grid of trials), each run's trial key and config fingerprint, and
    per-example test predictions (for paired significance tests)."""
    for statement in _SWEEP_STATEMENTS:
        db.execute(statement)


_RUN_LIST_INDEXES = (  # the expressions exactly as run lists sort by them (cast_engine.store.run_table)
    "CREATE INDEX IF NOT EXISTS idx_runs_started_at ON runs(started_at)",
    "CREATE INDEX IF NOT EXISTS idx_runs_name ON runs(name COLLATE NOCASE)",
    "CREATE INDEX IF NOT EXISTS idx_runs_combined ON runs(json_extract(results, '$.combined'))",
    "CREATE INDEX IF NOT EXISTS idx_runs_factual ON runs(json_extract(results, '$.factual'))",
    "CREATE INDEX IF NOT EXISTS idx_runs_counterfactual ON runs(json_extract(results, '$.counterfactual'))",
    "CREATE INDEX IF NOT EXISTS idx_runs_pair ON runs(json_extract(results, '$.pair'))",
    "CREATE INDEX IF NOT EXISTS idx_runs_alpha ON runs(json_extract(config, '$.method.alpha'))",
    "CREATE INDEX IF NOT EXISTS idx_runs_k ON runs(json_extract(config, '$.method.k') COLLATE NOCASE)",
    "CREATE INDEX IF NOT EXISTS idx_runs_lr ON runs(json_extract(config, '$.train.lr'))",
    "DROP INDEX IF EXISTS idx_epochs_run_id",
)


@MIGRATIONS(name="0003_run_list_indexes")
def run_list_indexes(db: Database) -> None:
    """Indexes for long run lists: start time and name (filters), the accuracies, α, K and
    the learning rate (sorting without reading every run's JSON). The epochs' unique
    (run_id, epoch, stage) index already serves lookups by run, so the separate run_id
    index only made every epoch row larger to store."""
    for statement in _RUN_LIST_INDEXES:
        db.execute(statement)


_EVALUATION_STATEMENTS = (
    """
    CREATE TABLE evaluations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        spec TEXT NOT NULL,
        data_sha256 TEXT NOT NULL,
        data_files TEXT NOT NULL,
        labels TEXT NOT NULL,
        results TEXT NOT NULL,
        examples BLOB NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (run_id, name),
        UNIQUE (run_id, data_sha256)
    )
    """,
    """
    CREATE TABLE evaluation_predictions (
        evaluation_id INTEGER NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
        split TEXT NOT NULL,
        predicted TEXT NOT NULL,
        gold TEXT NOT NULL,
        probabilities BLOB NOT NULL,
        PRIMARY KEY (evaluation_id, split)
    )
    """,
    "CREATE INDEX idx_evaluations_name ON evaluations(name)",
)


@MIGRATIONS(name="0004_evaluations")
def evaluations(db: Database) -> None:
    """Named evaluations of a run on other paired data: the data's source and sha256,
    its examples (compressed), accuracies, and per-example predictions with probabilities."""
    for statement in _EVALUATION_STATEMENTS:
        db.execute(statement)


def apply_migrations(db: Database, migrations: Migrations = MIGRATIONS) -> list[str]:
    """Apply the pending migrations of ``migrations``; return the names applied.

    The check and the application run under one ``BEGIN IMMEDIATE`` write lock,
    so two processes opening a new database at once do not both try to create
    the tables (the second waits, then finds nothing pending). Each migration
    still runs in its own savepoint, so a failing one leaves no trace.
    """
    if not migrations.pending(db):
        return []
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        names = [migration.name for migration in migrations.pending(db)]
        migrations.apply(db)
        if db["store_meta"].exists():
            record_migrated_by(db)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return names


@MIGRATIONS(name="0005_store_identity")
def store_identity(db: Database) -> None:
    """A store's identity: a UUID kept in the store, from which its artifact folder is derived."""
    import uuid

    db.execute("CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO store_meta (key, value) VALUES ('store_id', ?)", (uuid.uuid4().hex,))


def app_version() -> str:
    """The installed cast-studio version (what a store records as having migrated it)."""
    from importlib import metadata

    try:
        return metadata.version("cast-studio")
    except metadata.PackageNotFoundError:
        return "unknown"


def applied_names(db: Database, migrations: Migrations = MIGRATIONS) -> list[str]:
    """Names of the migrations of ``migrations``' set applied to ``db``, in order (one query: opening a
    store for a listing must cost little more than the listing)."""
    try:
        rows = db.execute(f"SELECT name FROM {migrations.migrations_table} WHERE migration_set = ? ORDER BY rowid",
                          (migrations.name,)).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    return [row[0] for row in rows]


def unknown_migrations(applied: list[str], migrations: Migrations = MIGRATIONS) -> list[str]:
    """Of the ``applied`` migration names, those this version does not know: a newer version made the store."""
    known = {migration.name for migration in migrations._migrations}
    return [name for name in applied if name not in known]


def pending_names(applied: list[str], migrations: Migrations = MIGRATIONS) -> list[str]:
    """Migrations this version knows that are not among the ``applied`` names."""
    done = set(applied)
    return [migration.name for migration in migrations._migrations if migration.name not in done]


def meta_value(db: Database, key: str) -> str | None:
    """A value of the store_meta table (None before migration 0005, or when unset)."""
    try:
        row = db.execute("SELECT value FROM store_meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return row[0] if row else None


def record_migrated_by(db: Database) -> None:
    """Note which version last migrated the store (an older version names it when it refuses to write)."""
    db.execute("INSERT OR REPLACE INTO store_meta (key, value) VALUES ('migrated_by', ?)", (f"cast-studio {app_version()}",))
