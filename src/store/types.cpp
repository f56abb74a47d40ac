#include "pkgxfer/store/types.h"

#include <array>
#include <cstdio>
#include <utility>

namespace pkgxfer::store {

namespace {

template <typename E, std::size_t N>
using Names = std::array<std::pair<E, std::string_view>, N>;

constexpr Names<Priority, 3> kPriorities = {{
    {Priority::High, "high"},
    {Priority::Medium, "medium"},
    {Priority::Low, "low"},
}};

constexpr Names<RequestKind, 4> kRequestKinds = {{
    {RequestKind::Distribute, "distribute"},
    {RequestKind::Redistribute, "redistribute"},
    {RequestKind::Validate, "validate"},
    {RequestKind::Remove, "remove"},
}};

constexpr Names<RequestState, 4> kRequestStates = {{
    {RequestState::Pending, "pending"},
    {RequestState::Taken, "taken"},
    {RequestState::Done, "done"},
    {RequestState::Rejected, "rejected"},
}};

constexpr Names<DistributionState, 12> kDistributionStates = {{
    {DistributionState::Waiting, "waiting"},
    {DistributionState::Checking, "checking"},
    {DistributionState::Transferring, "transferring"},
    {DistributionState::Verifying, "verifying"},
    {DistributionState::WaitingSource, "waiting_source"},
    {DistributionState::Notified, "notified"},
    {DistributionState::Pulling, "pulling"},
    {DistributionState::Installed, "installed"},
    {DistributionState::Retrying, "retrying"},
    {DistributionState::Failed, "failed"},
    {DistributionState::Removing, "removing"},
    {DistributionState::Removed, "removed"},
}};

constexpr Names<JobAction, 4> kJobActions = {{
    {JobAction::Add, "add"},
    {JobAction::Redistribute, "redistribute"},
    {JobAction::Validate, "validate"},
    {JobAction::Remove, "remove"},
}};

constexpr Names<JobState, 7> kJobStates = {{
    {JobState::Queued, "queued"},
    {JobState::Running, "running"},
    {JobState::Paused, "paused"},
    {JobState::Done, "done"},
    {JobState::Failed, "failed"},
    {JobState::Superseded, "superseded"},
    {JobState::Cancelled, "cancelled"},
}};

template <typename E, std::size_t N>
std::string_view nameOf(const Names<E, N>& names, E value) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return "unknown";
}

template <typename E, std::size_t N>
Result<E> parseName(const Names<E, N>& names, std::string_view what, std::string_view text) {
  std::string expected;
  for (const auto& [v, name] : names) {
    if (name == text) return v;
    if (!expected.empty()) expected += ", ";
    expected += name;
  }
  return Status::InvalidArgument("invalid " + std::string(what) + " '" + std::string(text) +
                                 "' (expected one of: " + expected + ")");
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isUpperHex(char c) { return isDigit(c) || (c >= 'A' && c <= 'F'); }
bool isLowerHex(char c) { return isDigit(c) || (c >= 'a' && c <= 'f'); }

// Parses exactly `n` digits at text[pos].
bool digits(std::string_view text, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > text.size()) return false;
  int value = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!isDigit(text[i])) return false;
    value = value * 10 + (text[i] - '0');
  }
  out = value;
  return true;
}

}  // namespace

std::string_view toString(Priority value) { return nameOf(kPriorities, value); }
std::string_view toString(RequestKind value) { return nameOf(kRequestKinds, value); }
std::string_view toString(RequestState value) { return nameOf(kRequestStates, value); }
std::string_view toString(DistributionState value) { return nameOf(kDistributionStates, value); }
std::string_view toString(JobAction value) { return nameOf(kJobActions, value); }
std::string_view toString(JobState value) { return nameOf(kJobStates, value); }

Result<Priority> parsePriority(std::string_view text) {
  return parseName(kPriorities, "priority", text);
}
Result<RequestKind> parseRequestKind(std::string_view text) {
  return parseName(kRequestKinds, "request kind", text);
}
Result<RequestState> parseRequestState(std::string_view text) {
  return parseName(kRequestStates, "request state", text);
}
Result<DistributionState> parseDistributionState(std::string_view text) {
  return parseName(kDistributionStates, "distribution state", text);
}
Result<JobAction> parseJobAction(std::string_view text) {
  return parseName(kJobActions, "job action", text);
}
Result<JobState> parseJobState(std::string_view text) {
  return parseName(kJobStates, "job state", text);
}

bool isTerminal(JobState state) {
  return state == JobState::Done || state == JobState::Failed || state == JobState::Superseded ||
         state == JobState::Cancelled;
}

std::string formatTimestamp(Timestamp time) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(time);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> tod{ms - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(tod.hours().count()),
                static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
                static_cast<int>(tod.subseconds().count()));
  return buf;
}

Result<Timestamp> parseTimestamp(std::string_view text) {
  using namespace std::chrono;
  auto bad = [&] {
    return Status::InvalidArgument("invalid timestamp '" + std::string(text) +
                                   "' (expected YYYY-MM-DDTHH:MM:SS.mmmZ)");
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, ms = 0;
  if (text.size() != 24 || !digits(text, 0, 4, y) || text[4] != '-' || !digits(text, 5, 2, mo) ||
      text[7] != '-' || !digits(text, 8, 2, d) || text[10] != 'T' || !digits(text, 11, 2, h) ||
      text[13] != ':' || !digits(text, 14, 2, mi) || text[16] != ':' || !digits(text, 17, 2, s) ||
      text[19] != '.' || !digits(text, 20, 3, ms) || text[23] != 'Z') {
    return bad();
  }
  const year_month_day ymd{year(y), month(static_cast<unsigned>(mo)),
                           day(static_cast<unsigned>(d))};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 59) return bad();
  const auto tp = sys_days(ymd) + hours(h) + minutes(mi) + seconds(s) + milliseconds(ms);
  return time_point_cast<Timestamp::duration>(tp);
}

bool isValidPackageId(std::string_view id) {
  if (id.size() != 8) return false;
  for (std::size_t i = 0; i < 3; ++i) {
    const char c = id[i];
    if (!isDigit(c) && !(c >= 'A' && c <= 'Z')) return false;
  }
  for (std::size_t i = 3; i < 8; ++i) {
    if (!isUpperHex(id[i])) return false;
  }
  return true;
}

bool isValidSha256(std::string_view hex) {
  if (hex.size() != 64) return false;
  for (char c : hex) {
    if (!isLowerHex(c)) return false;
  }
  return true;
}

}  // namespace pkgxfer::store
