#include "pkgxfer/transport/pull_protocol.h"

#include <nlohmann/json.hpp>

namespace pkgxfer::transport::pull {
namespace {

using nlohmann::json;

Status bad(std::string_view what, std::string_view field, std::string_view expected) {
  return Status::InvalidArgument(std::string(what) + ": \"" + std::string(field) + "\" must be " +
                                 std::string(expected));
}

Result<json> parseObject(std::string_view text, std::string_view what) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return Status::InvalidArgument(std::string(what) + " is not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument(std::string(what) + " must be a JSON object");
  return j;
}

template <typename T>
Status read(const json& j, std::string_view what, const char* field, T* out, bool required = true) {
  auto it = j.find(field);
  if (it == j.end()) {
    return required ? Status::InvalidArgument(std::string(what) + ": \"" + field + "\" is missing")
                    : Status::Ok();
  }
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) return bad(what, field, "a string");
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) return bad(what, field, "true or false");
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    if (!it->is_number_integer()) return bad(what, field, "an integer");
  } else {
    if (!it->is_number_unsigned()) return bad(what, field, "a whole number >= 0");
  }
  *out = it->get<T>();
  return Status::Ok();
}

}  // namespace

std::string_view toString(PullState state) {
  switch (state) {
    case PullState::Queued:
      return "queued";
    case PullState::Downloading:
      return "downloading";
    case PullState::Installed:
      return "installed";
    case PullState::Failed:
      return "failed";
  }
  return "unknown";
}

std::string toJson(const Notification& n) {
  json j = {{"job_id", n.job_id},
            {"dp", n.dp},
            {"package_id", n.manifest.package_id},
            {"version", n.manifest.version},
            {"redistribute", n.redistribute},
            {"manifest", json::parse(content::toJson(n.manifest))},
            {"sources", n.sources},
            {"status_url", n.status_url}};
  return j.dump();
}

Result<Notification> parseNotification(std::string_view text) {
  constexpr std::string_view kWhat = "pull notification";
  PKGXFER_ASSIGN_OR_RETURN(json j, parseObject(text, kWhat));
  Notification n;
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "job_id", &n.job_id));
  if (n.job_id <= 0) return bad(kWhat, "job_id", "> 0");
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "dp", &n.dp));
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "redistribute", &n.redistribute, false));
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "status_url", &n.status_url, false));
  auto manifest = j.find("manifest");
  if (manifest == j.end() || !manifest->is_object()) {
    return bad(kWhat, "manifest", "the content's manifest (an object)");
  }
  auto parsed = content::parseManifest(manifest->dump());
  if (!parsed.ok()) {
    return Status::InvalidArgument(std::string(kWhat) + ": " + parsed.status().message());
  }
  n.manifest = std::move(*parsed);
  std::string package_id;
  std::uint64_t version = 0;
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "package_id", &package_id, false));
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "version", &version, false));
  if ((!package_id.empty() && package_id != n.manifest.package_id) ||
      (version != 0 && version != n.manifest.version)) {
    return Status::InvalidArgument(std::string(kWhat) + ": package_id/version " + package_id +
                                   " v" + std::to_string(version) + " are not the manifest's " +
                                   content::contentId(n.manifest.package_id, n.manifest.version));
  }
  auto sources = j.find("sources");
  if (sources == j.end() || !sources->is_array() || sources->empty()) {
    return bad(kWhat, "sources", "a non-empty list of source URLs");
  }
  for (const json& s : *sources) {
    if (!s.is_string() || !(s.get_ref<const std::string&>().starts_with("http://") ||
                            s.get_ref<const std::string&>().starts_with("https://"))) {
      return bad(kWhat, "sources", "a list of http(s):// URLs");
    }
    n.sources.push_back(s.get<std::string>());
  }
  return n;
}

std::string toJson(const JobStatus& s) {
  json j = {{"job_id", s.job_id},
            {"dp", s.dp},
            {"package_id", s.package_id},
            {"version", s.version},
            {"state", toString(s.state)},
            {"sequence", s.sequence},
            {"bytes_total", s.bytes_total},
            {"bytes_done", s.bytes_done},
            {"files_total", s.files_total},
            {"files_done", s.files_done},
            {"error", s.error},
            {"source", s.source}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<JobStatus> parseJobStatus(std::string_view text) {
  constexpr std::string_view kWhat = "pull job status";
  PKGXFER_ASSIGN_OR_RETURN(json j, parseObject(text, kWhat));
  JobStatus s;
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "job_id", &s.job_id));
  if (s.job_id <= 0) return bad(kWhat, "job_id", "> 0");
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "dp", &s.dp));
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "package_id", &s.package_id));
  if (!content::isValidPackageId(s.package_id)) return bad(kWhat, "package_id", "a package ID");
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "version", &s.version));
  if (s.version == 0) return bad(kWhat, "version", ">= 1");
  std::string state;
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "state", &state));
  if (state == "queued") {
    s.state = PullState::Queued;
  } else if (state == "downloading") {
    s.state = PullState::Downloading;
  } else if (state == "installed") {
    s.state = PullState::Installed;
  } else if (state == "failed") {
    s.state = PullState::Failed;
  } else {
    return bad(kWhat, "state", "queued, downloading, installed or failed");
  }
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "sequence", &s.sequence));
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "bytes_total", &s.bytes_total, false));
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "bytes_done", &s.bytes_done, false));
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "files_total", &s.files_total, false));
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "files_done", &s.files_done, false));
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "error", &s.error, false));
  PKGXFER_RETURN_IF_ERROR(read(j, kWhat, "source", &s.source, false));
  if (s.bytes_done > s.bytes_total || s.files_done > s.files_total) {
    return Status::InvalidArgument(std::string(kWhat) + ": more done than in total");
  }
  return s;
}

}  // namespace pkgxfer::transport::pull
