#include "migrations.h"

#include <string>

namespace pkgxfer::store::internal {

namespace {

// Version 1: the initial schema.
//
// Conventions: STRICT tables (types enforced); every *_at column is formatTimestamp() text
// ("2026-11-25T14:05:09.118Z"), which sorts like the time; enumerations are lower-case text with a
// CHECK naming every allowed value, so a bad state cannot be stored by any client; counters are
// CHECKed non-negative. Rows are never deleted to express "removed": packages, DPs and
// distributions keep their history.
constexpr std::string_view kSchemaV1 = R"sql(
CREATE TABLE packages (
  package_id      TEXT NOT NULL PRIMARY KEY
                  CHECK (length(package_id) = 8 AND package_id GLOB
                         '[A-Z0-9][A-Z0-9][A-Z0-9][0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F]'),
  name            TEXT NOT NULL CHECK (name <> ''),
  source_path     TEXT NOT NULL CHECK (source_path <> ''),
  priority        TEXT NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
  current_version INTEGER NOT NULL DEFAULT 0 CHECK (current_version >= 0),  -- 0: no content yet
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
) STRICT;

-- One row per content version (SPEC §2): the manifest's identity and totals.
CREATE TABLE package_versions (
  package_id      TEXT NOT NULL REFERENCES packages (package_id) ON DELETE CASCADE,
  version         INTEGER NOT NULL CHECK (version >= 1),
  manifest_sha256 TEXT NOT NULL
                  CHECK (length(manifest_sha256) = 64 AND manifest_sha256 NOT GLOB '*[^0-9a-f]*'),
  total_bytes     INTEGER NOT NULL CHECK (total_bytes >= 0),
  file_count      INTEGER NOT NULL CHECK (file_count >= 0),
  created_at      TEXT NOT NULL,
  PRIMARY KEY (package_id, version)
) STRICT, WITHOUT ROWID;

CREATE TABLE package_files (
  package_id TEXT NOT NULL,
  version    INTEGER NOT NULL,
  path       TEXT NOT NULL CHECK (path <> '' AND substr(path, 1, 1) <> '/'),
  size       INTEGER NOT NULL CHECK (size >= 0),
  sha256     TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
  mtime      TEXT NOT NULL,
  attributes INTEGER NOT NULL DEFAULT 0 CHECK (attributes >= 0),
  PRIMARY KEY (package_id, version, path),
  FOREIGN KEY (package_id, version)
    REFERENCES package_versions (package_id, version) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
-- "Which packages hold this body?" (SIS reference counting on removal).
CREATE INDEX package_files_by_sha256 ON package_files (sha256);

-- Every folder of a version, empty ones included (the manifest's "dirs").
CREATE TABLE package_dirs (
  package_id TEXT NOT NULL,
  version    INTEGER NOT NULL,
  path       TEXT NOT NULL CHECK (path <> '' AND substr(path, 1, 1) <> '/'),
  PRIMARY KEY (package_id, version, path),
  FOREIGN KEY (package_id, version)
    REFERENCES package_versions (package_id, version) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

-- Synced from the config at start. A DP dropped from the config keeps its row (and the history
-- that references it) with in_config = 0.
CREATE TABLE distribution_points (
  name        TEXT NOT NULL PRIMARY KEY CHECK (name <> ''),
  type        TEXT NOT NULL CHECK (type IN ('standard', 'pull')),
  address     TEXT NOT NULL,
  content_url TEXT NOT NULL DEFAULT '',
  sources     TEXT NOT NULL DEFAULT '[]'  -- JSON array of DP names, in priority order
              CHECK (json_valid(sources) AND json_type(sources) = 'array'),
  in_config   INTEGER NOT NULL DEFAULT 1 CHECK (in_config IN (0, 1)),
  added_at    TEXT NOT NULL,
  updated_at  TEXT NOT NULL,
  removed_at  TEXT,  -- when it left the config; NULL while configured
  CHECK ((in_config = 1) = (removed_at IS NULL))
) STRICT;

-- The queue the CLI writes and the service drains (SPEC §5).
CREATE TABLE requests (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  kind        TEXT NOT NULL CHECK (kind IN ('distribute', 'redistribute', 'validate', 'remove')),
  package_id  TEXT NOT NULL REFERENCES packages (package_id),
  dp          TEXT NOT NULL REFERENCES distribution_points (name),
  state       TEXT NOT NULL DEFAULT 'pending'
              CHECK (state IN ('pending', 'taken', 'done', 'rejected')),
  created_at  TEXT NOT NULL,
  picked_at   TEXT,
  finished_at TEXT,
  error       TEXT NOT NULL DEFAULT '',
  CHECK ((state = 'pending') = (picked_at IS NULL)),
  CHECK ((state IN ('done', 'rejected')) = (finished_at IS NOT NULL))
) STRICT;
CREATE INDEX requests_pending ON requests (id) WHERE state = 'pending';

-- One row per (package, DP): what `pkgxfer status` shows.
CREATE TABLE distributions (
  package_id      TEXT NOT NULL,
  dp              TEXT NOT NULL REFERENCES distribution_points (name),
  version         INTEGER NOT NULL,
  state           TEXT NOT NULL CHECK (state IN (
                    'waiting', 'checking', 'transferring', 'verifying', 'waiting_source',
                    'notified', 'pulling', 'installed', 'retrying', 'failed', 'removing',
                    'removed')),
  bytes_total     INTEGER NOT NULL DEFAULT 0 CHECK (bytes_total >= 0),
  bytes_done      INTEGER NOT NULL DEFAULT 0 CHECK (bytes_done >= 0),
  files_total     INTEGER NOT NULL DEFAULT 0 CHECK (files_total >= 0),
  files_done      INTEGER NOT NULL DEFAULT 0 CHECK (files_done >= 0),
  attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_error      TEXT NOT NULL DEFAULT '',
  next_attempt_at TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL,
  PRIMARY KEY (package_id, dp),
  FOREIGN KEY (package_id, version) REFERENCES package_versions (package_id, version)
) STRICT, WITHOUT ROWID;
CREATE INDEX distributions_by_dp ON distributions (dp);
CREATE INDEX distributions_retry_due ON distributions (next_attempt_at) WHERE state = 'retrying';

CREATE TABLE transfer_jobs (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  package_id    TEXT NOT NULL,
  version       INTEGER NOT NULL,
  dp            TEXT NOT NULL REFERENCES distribution_points (name),
  action        TEXT NOT NULL CHECK (action IN ('add', 'redistribute', 'validate', 'remove')),
  priority      TEXT NOT NULL CHECK (priority IN ('high', 'medium', 'low')),
  priority_rank INTEGER NOT NULL
                GENERATED ALWAYS AS (CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1
                                     ELSE 2 END) VIRTUAL,
  state         TEXT NOT NULL DEFAULT 'queued' CHECK (state IN (
                  'queued', 'running', 'paused', 'done', 'failed', 'superseded', 'cancelled')),
  bytes_total   INTEGER NOT NULL DEFAULT 0 CHECK (bytes_total >= 0),
  bytes_done    INTEGER NOT NULL DEFAULT 0 CHECK (bytes_done >= 0),
  files_total   INTEGER NOT NULL DEFAULT 0 CHECK (files_total >= 0),
  files_done    INTEGER NOT NULL DEFAULT 0 CHECK (files_done >= 0),
  error         TEXT NOT NULL DEFAULT '',
  created_at    TEXT NOT NULL,
  started_at    TEXT,
  finished_at   TEXT,
  updated_at    TEXT NOT NULL,
  FOREIGN KEY (package_id, version) REFERENCES package_versions (package_id, version),
  CHECK ((state IN ('done', 'failed', 'superseded', 'cancelled')) = (finished_at IS NOT NULL))
) STRICT;
-- The transfer manager's pick: runnable jobs by priority, then age.
CREATE INDEX transfer_jobs_runnable ON transfer_jobs (priority_rank, created_at, id)
  WHERE state IN ('queued', 'paused');
CREATE INDEX transfer_jobs_by_pair ON transfer_jobs (package_id, dp);
CREATE INDEX transfer_jobs_by_dp ON transfer_jobs (dp);

-- Bodies a job has partly sent: the next attempt resumes at body_offset into temp_name on the DP.
CREATE TABLE transfer_partials (
  job_id      INTEGER NOT NULL REFERENCES transfer_jobs (id) ON DELETE CASCADE,
  sha256      TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
  size        INTEGER NOT NULL CHECK (size >= 0),
  body_offset INTEGER NOT NULL CHECK (body_offset >= 0 AND body_offset <= size),
  temp_name   TEXT NOT NULL CHECK (temp_name <> ''),
  updated_at  TEXT NOT NULL,
  PRIMARY KEY (job_id, sha256)
) STRICT, WITHOUT ROWID;

-- Status messages received from pull DPs by the management point.
CREATE TABLE status_messages (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  received_at TEXT NOT NULL,
  dp          TEXT NOT NULL REFERENCES distribution_points (name),
  package_id  TEXT NOT NULL REFERENCES packages (package_id),
  version     INTEGER NOT NULL CHECK (version >= 1),
  job_id      INTEGER REFERENCES transfer_jobs (id) ON DELETE SET NULL,
  state       TEXT NOT NULL CHECK (state IN (
                'waiting', 'checking', 'transferring', 'verifying', 'waiting_source',
                'notified', 'pulling', 'installed', 'retrying', 'failed', 'removing',
                'removed')),
  bytes_total INTEGER NOT NULL DEFAULT 0 CHECK (bytes_total >= 0),
  bytes_done  INTEGER NOT NULL DEFAULT 0 CHECK (bytes_done >= 0),
  files_total INTEGER NOT NULL DEFAULT 0 CHECK (files_total >= 0),
  files_done  INTEGER NOT NULL DEFAULT 0 CHECK (files_done >= 0),
  message     TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX status_messages_by_pair ON status_messages (package_id, dp, id);
CREATE INDEX status_messages_by_job ON status_messages (job_id, id);
)sql";

// What the latest request for a pair asked for, so that a retry repeats it: a redistribute whose
// preliminary check failed (no job was created) must not come back as a plain distribute.
constexpr std::string_view kSchemaV2 = R"sql(
ALTER TABLE distributions ADD COLUMN action TEXT NOT NULL DEFAULT 'add'
  CHECK (action IN ('add', 'redistribute', 'validate', 'remove'));
)sql";

// Pull DPs (issue 15). Status messages carry the pull DP's sequence number, so a duplicate is
// recorded once (the unique index; messages without a job or sequence are not constrained), and
// the time the distribution manager applied them (NULL: not yet), so what arrived while it was
// down is applied at its next start. pull_transfers holds the site's side of each pull transfer
// job — which phase of the transfer manager's cycle it is in, the counts each cycle's limit is
// checked against and when its next step is due — so every timer is rebuilt after a restart.
constexpr std::string_view kSchemaV3 = R"sql(
ALTER TABLE status_messages ADD COLUMN sequence INTEGER CHECK (sequence >= 0);
ALTER TABLE status_messages ADD COLUMN processed_at TEXT;
UPDATE status_messages SET processed_at = received_at;
CREATE UNIQUE INDEX status_messages_job_sequence ON status_messages (job_id, sequence)
  WHERE job_id IS NOT NULL AND sequence IS NOT NULL;
CREATE INDEX status_messages_unprocessed ON status_messages (id) WHERE processed_at IS NULL;

CREATE TABLE pull_transfers (
  job_id          INTEGER NOT NULL PRIMARY KEY REFERENCES transfer_jobs (id) ON DELETE CASCADE,
  phase           TEXT NOT NULL CHECK (phase IN ('source_check', 'notify', 'status_wait')),
  source_checks   INTEGER NOT NULL DEFAULT 0 CHECK (source_checks >= 0),   -- found no source
  notify_failures INTEGER NOT NULL DEFAULT 0 CHECK (notify_failures >= 0),
  status_checks   INTEGER NOT NULL DEFAULT 0 CHECK (status_checks >= 0),   -- since last status
  next_at         TEXT NOT NULL,  -- when the phase's next step is due
  waiting_since   TEXT,           -- status_wait: the notification, or the last status or check
  updated_at      TEXT NOT NULL
) STRICT;
)sql";

constexpr Migration kMigrations[] = {
    {1, "initial schema", kSchemaV1},
    {2, "distributions.action", kSchemaV2},
    {3, "pull DP status and cycles", kSchemaV3},
};

// A pull DP's database (pulldp.db, beside its content library), version 1: the notifications it
// accepted, each job's state and the status it must still report, and where each body's download
// stands (the upload's temporary name and its durable offset), so a restart resumes them.
constexpr std::string_view kPullDpSchemaV1 = R"sql(
CREATE TABLE pull_jobs (
  id             INTEGER PRIMARY KEY,           -- arrival order: queued jobs start FIFO
  job_id         INTEGER NOT NULL UNIQUE CHECK (job_id > 0),  -- the site's id of the job
  dp             TEXT NOT NULL,
  package_id     TEXT NOT NULL CHECK (package_id <> ''),
  version        INTEGER NOT NULL CHECK (version >= 1),
  redistribute   INTEGER NOT NULL DEFAULT 0 CHECK (redistribute IN (0, 1)),
  notification   TEXT NOT NULL,                 -- the notification's JSON as received
  state          TEXT NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'downloading', 'installed', 'failed')),
  sequence       INTEGER NOT NULL DEFAULT 1 CHECK (sequence >= 1),  -- of the latest status
  acked_sequence INTEGER NOT NULL DEFAULT 0 CHECK (acked_sequence >= 0),  -- the site has it
  attempts       INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  bytes_total    INTEGER NOT NULL DEFAULT 0 CHECK (bytes_total >= 0),
  bytes_done     INTEGER NOT NULL DEFAULT 0 CHECK (bytes_done >= 0),
  files_total    INTEGER NOT NULL DEFAULT 0 CHECK (files_total >= 0),
  files_done     INTEGER NOT NULL DEFAULT 0 CHECK (files_done >= 0),
  error          TEXT NOT NULL DEFAULT '',
  source         TEXT NOT NULL DEFAULT '',
  received_at    TEXT NOT NULL,
  updated_at     TEXT NOT NULL
) STRICT;
CREATE INDEX pull_jobs_runnable ON pull_jobs (state, id);
CREATE INDEX pull_jobs_unreported ON pull_jobs (id) WHERE sequence > acked_sequence;

CREATE TABLE pull_partials (
  job_id     INTEGER NOT NULL REFERENCES pull_jobs (job_id) ON DELETE CASCADE,
  sha256     TEXT NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
  temp_name  TEXT NOT NULL CHECK (temp_name <> ''),
  durable_offset INTEGER NOT NULL CHECK (durable_offset >= 0),
  updated_at TEXT NOT NULL,
  PRIMARY KEY (job_id, sha256)
) STRICT, WITHOUT ROWID;
)sql";

constexpr Migration kPullDpMigrations[] = {
    {1, "pull DP jobs", kPullDpSchemaV1},
};

}  // namespace

std::span<const Migration> schemaMigrations() { return kMigrations; }
std::span<const Migration> pullDpSchemaMigrations() { return kPullDpMigrations; }

Result<int> readUserVersion(Connection& conn) {
  PKGXFER_ASSIGN_OR_RETURN(Statement stmt, conn.prepare("PRAGMA user_version"));
  PKGXFER_ASSIGN_OR_RETURN(bool row, stmt.step());
  if (!row) return Status::Internal("PRAGMA user_version returned no row");
  return static_cast<int>(stmt.columnInt64(0));
}

Status migrate(Connection& conn, std::span<const Migration> migrations) {
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      return Status::Internal("schema migrations are not numbered 1.." +
                              std::to_string(migrations.size()));
    }
  }
  const int latest = static_cast<int>(migrations.size());
  PKGXFER_ASSIGN_OR_RETURN(int version, readUserVersion(conn));
  if (version > latest) {
    return Status::InvalidArgument("database schema version " + std::to_string(version) +
                                   " is newer than this pkgxfer supports (" +
                                   std::to_string(latest) + ")");
  }
  for (const Migration& step : migrations) {
    if (step.version <= version) continue;
    const std::string context = "migrate to schema version " + std::to_string(step.version) + " (" +
                                std::string(step.description) + ")";
    PKGXFER_ASSIGN_OR_RETURN(int depth, conn.begin(/*write=*/true));
    // Another process may have applied this step between our read and our lock.
    Result<int> now = readUserVersion(conn);
    if (!now.ok()) {
      conn.rollback(depth);
      return now.error().withContext(context);
    }
    if (*now >= step.version) {
      conn.rollback(depth);
      version = *now;
      continue;
    }
    Status status = conn.exec(step.sql);
    if (status.ok()) {
      status = conn.exec("PRAGMA user_version = " + std::to_string(step.version));
    }
    if (status.ok()) status = conn.commit(depth);
    if (!status.ok()) {
      conn.rollback(depth);
      return status.withContext(context);
    }
    version = step.version;
  }
  return Status::Ok();
}

}  // namespace pkgxfer::store::internal
