#pragma once

// The pull DP protocol (SPEC §7, docs/http-api.md "Pull DPs"): what the site's transfer manager
// sends a pull DP, what the pull DP reports to the site's management point, and what it answers
// when the site checks on a job. One definition of each message and its JSON, shared by the site
// (pkgxfermgr, statusreceiver) and the DP (pulldp), so both sides cannot drift apart.
//
//   site ── POST /v1/pull-jobs {Notification} ──────────────────────────► pull DP   (token)
//   pull DP ── POST /v1/status {JobStatus} ────────────────────────────► site MP   (token)
//   site ── GET /v1/pull-jobs/{job_id} ─────────────► {JobStatus} ─────── pull DP   (token)
//
// Pure value types and functions; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pkgxfer/common/status.h"
#include "pkgxfer/content/manifest.h"

namespace pkgxfer::transport::pull {

// The site tells a pull DP to fetch one content version (ConfigMgr's PullDPNotification).
struct Notification {
  std::int64_t job_id =
      0;           // the site's transfer job; > 0. Idempotent: the same id twice is one job
  std::string dp;  // the pull DP's name in the site's config
  bool redistribute = false;  // fetch every body, even those present (a repair)
  // The content: package, version and every file's path, size, attributes, mtime and SHA-256.
  content::Manifest manifest;
  // Base URLs of the source DPs' content (each source's content_url), in the order to try them.
  std::vector<std::string> sources;
  // Where to POST status (the site's statusreceiver, e.g. "http://site01:8530"); empty: the pull
  // DP's own pulldp.site_status_url.
  std::string status_url;
};

enum class PullState {
  Queued,       // accepted, waiting for a free job slot on the pull DP
  Downloading,  // fetching bodies from the sources
  Installed,    // every body verified, the manifest committed on the pull DP
  Failed,       // gave up: `error` says why (no source has a body, a hash never matched, ...)
};
std::string_view toString(PullState state);

// A pull job's progress as the pull DP reports it, and answers a check with.
struct JobStatus {
  std::int64_t job_id = 0;
  std::string dp;  // the pull DP's name, as the notification gave it
  std::string package_id;
  std::uint64_t version = 0;
  PullState state = PullState::Queued;
  // Increases with every report of the job; the site ignores a report whose sequence is not
  // above the last one it recorded (duplicates and late arrivals are harmless).
  std::uint64_t sequence = 0;
  std::uint64_t bytes_total = 0;
  std::uint64_t bytes_done = 0;
  std::uint64_t files_total = 0;
  std::uint64_t files_done = 0;
  std::string error;   // Failed: the cause, with the source's answer or the OS error
  std::string source;  // the source URL it downloads from now, for the site's log
};

// JSON text of each, and back. Parsing checks every field's type and range and the manifest
// (content::parseManifest); InvalidArgument naming the field otherwise.
std::string toJson(const Notification& notification);
Result<Notification> parseNotification(std::string_view json);
std::string toJson(const JobStatus& status);
Result<JobStatus> parseJobStatus(std::string_view json);

}  // namespace pkgxfer::transport::pull
