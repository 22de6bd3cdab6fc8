-- The exporter archive format, version 4 (PRAGMA user_version = 4).
--
-- One SQLCipher 4 database; every page (tables, indexes, WAL) is encrypted under a raw key
-- derived from the archive's master key (see docs/design.md). This file is the one source of
-- truth for the format: a new archive is created by running it; an older archive is migrated
-- by the named steps in exporter/archive/format.py (MIGRATIONS), which take their DDL from
-- this file, when a writer opens it; a newer one is refused.
--
-- Times are ISO 8601 UTC strings ("2026-11-30T03:32:46.123456+00:00").
-- Record data is canonical JSON: keys sorted, no insignificant whitespace, UTF-8.

PRAGMA user_version = 4;

-- Facts about the archive itself: archive_id (matches the key-slot file), created_at,
-- created_by (exporter version).
CREATE TABLE archive_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per run: a nightly sync, an import, a restore.
CREATE TABLE runs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL DEFAULT 'sync',
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    status       TEXT NOT NULL
                 CHECK (status IN ('running', 'ok', 'partial', 'failed', 'interrupted')),
    host         TEXT,
    pid          INTEGER,
    exporter_version TEXT,
    stats        TEXT,          -- JSON: per "source/stream": {"new", "changed", "deleted", ...}
    error        TEXT           -- plain-language summary of what went wrong, if anything
);

-- The (source, stream) pairs ever archived; versions refer to them by id.
CREATE TABLE streams (
    id      INTEGER PRIMARY KEY,
    source  TEXT NOT NULL,      -- configured source name, e.g. "salesforce"
    stream  TEXT NOT NULL,      -- e.g. "Account", "contacts", "drive_files"
    UNIQUE (source, stream)
);

-- Record versions. A new row is written only when a record's content hash changes.
-- The version is current while superseded_run IS NULL; "as of run R" is
--   first_run <= R AND (superseded_run IS NULL OR superseded_run > R).
-- A tombstone (deleted = 1) is a version too; data keeps what the vendor last sent, if anything.
CREATE TABLE versions (
    id              INTEGER PRIMARY KEY,
    stream_id       INTEGER NOT NULL REFERENCES streams (id),
    record_id       TEXT NOT NULL,
    first_run       INTEGER NOT NULL REFERENCES runs (id),
    superseded_run  INTEGER REFERENCES runs (id),
    deleted         INTEGER NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    hash            BLOB NOT NULL,  -- SHA-256 of b"tombstone:" or b"record:" + canonical JSON
    data            TEXT,           -- canonical JSON; NULL for a tombstone with no data
    seen_at         TEXT NOT NULL
);
CREATE UNIQUE INDEX versions_current ON versions (stream_id, record_id)
    WHERE superseded_run IS NULL;
CREATE INDEX versions_by_record ON versions (stream_id, record_id, first_run);
CREATE INDEX versions_by_run ON versions (first_run);

-- Files (attachments, Drive documents): stored once per content hash, in chunks of at most
-- 1 MiB, written in one transaction, so a file is either whole or absent.
CREATE TABLE files (
    id          INTEGER PRIMARY KEY,
    hash        BLOB NOT NULL UNIQUE,   -- SHA-256 of the content
    size        INTEGER NOT NULL,
    chunks      INTEGER NOT NULL,
    media_type  TEXT,
    first_run   INTEGER REFERENCES runs (id),
    stored_at   TEXT NOT NULL
);
CREATE TABLE file_chunks (
    file_id  INTEGER NOT NULL REFERENCES files (id),
    seq      INTEGER NOT NULL,
    data     BLOB NOT NULL,
    PRIMARY KEY (file_id, seq)
) WITHOUT ROWID;

-- Which record version refers to which file, under a name (e.g. "VersionData", "content").
CREATE TABLE file_links (
    version_id  INTEGER NOT NULL REFERENCES versions (id),
    name        TEXT NOT NULL,
    file_id     INTEGER NOT NULL REFERENCES files (id),
    PRIMARY KEY (version_id, name)
);
CREATE INDEX file_links_by_file ON file_links (file_id);

-- Schema snapshots (describe output, properties, sheet headers) per run, stored once per hash.
CREATE TABLE schema_blobs (
    hash  BLOB PRIMARY KEY,
    data  TEXT NOT NULL             -- canonical JSON
);
CREATE TABLE schema_snapshots (
    run_id     INTEGER NOT NULL REFERENCES runs (id),
    stream_id  INTEGER NOT NULL REFERENCES streams (id),
    hash       BLOB NOT NULL REFERENCES schema_blobs (hash),
    PRIMARY KEY (run_id, stream_id)
);

-- Where each stream's next incremental read starts. Written in the same transaction as the
-- records it covers, so a killed run resumes exactly after its last commit.
CREATE TABLE cursors (
    stream_id   INTEGER PRIMARY KEY REFERENCES streams (id),
    value       TEXT NOT NULL,      -- JSON
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    updated_at  TEXT NOT NULL
);

-- Append-only audit log: who did what (sync, print, export, restore, key changes).
-- Each entry's hash chains to the previous one: hash = SHA-256(prev_hash || canonical entry).
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,         -- OS user and host
    action   TEXT NOT NULL,         -- e.g. "init", "sync", "export", "print", "keys.add"
    detail   TEXT NOT NULL,         -- JSON
    run_id   INTEGER REFERENCES runs (id),
    prev_hash BLOB,
    hash     BLOB NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- Restores (format version 2): which archived record became which record of a restore
-- target. A row is written in the same transaction as its batch's bookkeeping, so a killed
-- restore resumes without creating anything twice. target_id IS NULL marks a pending write
-- (sent to a target that cannot upsert by a unique key): the next run looks it up there
-- before creating it again. hash is the SHA-256 (hex) of what was last written, so a re-run
-- sends only what changed.
CREATE TABLE id_map (
    target         TEXT NOT NULL,   -- configured target name, e.g. "hubspot"
    -- (format version 3) the target's own identity, e.g. "hubspot:portal/12345",
    -- "salesforce:org/00D...": a name pointed at another portal or org starts a map of its
    -- own; '' for rows written before version 3 (adopted once the target is seen to hold them)
    target_identity TEXT NOT NULL DEFAULT '',
    source         TEXT NOT NULL,   -- source of the archived record, e.g. "salesforce"
    stream         TEXT NOT NULL,   -- its stream, e.g. "Account"
    source_id      TEXT NOT NULL,   -- its record id in the archive
    target_object  TEXT NOT NULL,   -- the target's object, e.g. "contacts"
    target_id      TEXT,            -- the target's id; NULL while pending
    hash           TEXT,            -- SHA-256 hex of the last write; NULL while pending
    run_id         INTEGER REFERENCES runs (id),
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (target, target_identity, source, stream, source_id, target_object)
) WITHOUT ROWID;
CREATE INDEX id_map_by_target_id ON id_map (target, target_identity, target_object,
                                            target_id);

-- The care-plan desk (format version 4): staff accounts. A password is kept only as an
-- Argon2id hash (a PHC string with its own salt and parameters); the archive's key stays on
-- the server and staff never see it. Removing an account deletes its row; the audit log keeps
-- who added, changed and removed it.
CREATE TABLE staff (
    name             TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,  -- the login name
    role             TEXT NOT NULL CHECK (role IN ('print', 'office', 'admin')),
    password_hash    TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    password_set_at  TEXT NOT NULL
);

-- Care plans rendered ahead of need (format version 4): after each successful sync the PDF of
-- every client whose data changed is rendered again and kept here (encrypted like every
-- page), so that printing one client, or the binder, renders nothing when it matters.
-- inputs_hash covers everything the plan was built from (its records, files, the view
-- definition and the template): an equal hash means the stored PDF is still the plan.
CREATE TABLE rendered_plans (
    client_key   TEXT NOT NULL PRIMARY KEY,   -- the care-plan client, e.g. "salesforce/Account/001..."
    inputs_hash  TEXT NOT NULL,               -- SHA-256 hex
    run_id       INTEGER NOT NULL REFERENCES runs (id),  -- the newest run the PDF shows
    rendered_at  TEXT NOT NULL,
    pages        INTEGER NOT NULL,
    pdf          BLOB NOT NULL
);
