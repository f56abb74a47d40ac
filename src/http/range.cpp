#include "pkgxfer/http/range.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "text.h"

namespace pkgxfer::http {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

// Digits to a number, saturating at kMax (a huge first-byte-pos is still past the end). False if
// `s` is empty or not all digits.
bool parseDigits(std::string_view s, std::uint64_t* out) {
  if (s.empty()) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    v = v > (kMax - d) / 10 ? kMax : v * 10 + d;
  }
  *out = v;
  return true;
}

}  // namespace

RangeRequest parseRange(std::string_view header, std::uint64_t size) {
  RangeRequest whole;
  std::string_view s = detail::trimOws(header);
  if (s.size() < 6 || !detail::iequals(s.substr(0, 6), "bytes=")) return whole;
  s = detail::trimOws(s.substr(6));
  if (s.find(',') != std::string_view::npos) return whole;  // several ranges: send it all
  const std::size_t dash = s.find('-');
  if (dash == std::string_view::npos) return whole;
  const std::string_view a = detail::trimOws(s.substr(0, dash));
  const std::string_view b = detail::trimOws(s.substr(dash + 1));
  RangeRequest r;
  r.kind = RangeRequest::Kind::Partial;
  RangeRequest unsatisfiable;
  unsatisfiable.kind = RangeRequest::Kind::Unsatisfiable;
  if (a.empty()) {  // "-n": the last n bytes
    std::uint64_t n = 0;
    if (!parseDigits(b, &n)) return whole;
    if (n == 0 || size == 0) return unsatisfiable;
    r.range.first = size - std::min(n, size);
    r.range.last = size - 1;
    return r;
  }
  std::uint64_t first = 0;
  if (!parseDigits(a, &first)) return whole;
  std::uint64_t last = kMax;
  if (!b.empty()) {
    if (!parseDigits(b, &last)) return whole;
    if (last < first) return whole;  // invalid: ignored (RFC 9110 §14.1.1)
  }
  if (first >= size) return unsatisfiable;
  r.range.first = first;
  r.range.last = std::min(last, size - 1);
  return r;
}

std::string contentRange(const ByteRange& range, std::uint64_t size) {
  return "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" +
         std::to_string(size);
}

std::string rangeFrom(std::uint64_t offset) { return "bytes=" + std::to_string(offset) + "-"; }

Result<ContentRange> parseContentRange(std::string_view header) {
  auto bad = [&] {
    return Status::InvalidArgument("bad Content-Range '" + detail::clip(header, 100) + "'");
  };
  std::string_view s = detail::trimOws(header);
  if (s.size() < 6 || !detail::iequals(s.substr(0, 6), "bytes ")) return bad();
  s = detail::trimOws(s.substr(6));
  const std::size_t slash = s.find('/');
  if (slash == std::string_view::npos) return bad();
  const std::string_view range = s.substr(0, slash);
  const std::string_view total = s.substr(slash + 1);
  ContentRange out;
  if (total != "*") {
    std::uint64_t t = 0;
    if (!parseDigits(total, &t) || t == kMax) return bad();
    out.complete_length = t;
  }
  if (range == "*") {
    if (!out.complete_length) return bad();
    out.satisfied = false;
    return out;
  }
  const std::size_t dash = range.find('-');
  if (dash == std::string_view::npos) return bad();
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  if (!parseDigits(range.substr(0, dash), &first) || !parseDigits(range.substr(dash + 1), &last) ||
      last < first || last == kMax) {
    return bad();
  }
  if (out.complete_length && last >= *out.complete_length) return bad();
  out.range = {first, last};
  return out;
}

Status serveSized(Request& request, Response& response, std::uint64_t size, const ReadAt& read_at,
                  const ServeSizedOptions& options) {
  RangeRequest range = parseRange(request.header("Range"), size);
  if (range.kind != RangeRequest::Kind::Whole) {
    // If-Range: the range holds only for the representation the client has (a strong match);
    // otherwise it gets the whole body.
    const std::string_view if_range = detail::trimOws(request.header("If-Range"));
    if (!if_range.empty() && (options.etag.empty() || if_range != options.etag)) {
      range.kind = RangeRequest::Kind::Whole;
    }
  }
  PKGXFER_RETURN_IF_ERROR(response.addHeader("Accept-Ranges", "bytes"));
  if (!options.etag.empty()) PKGXFER_RETURN_IF_ERROR(response.addHeader("ETag", options.etag));
  if (range.kind == RangeRequest::Kind::Unsatisfiable) {
    PKGXFER_RETURN_IF_ERROR(response.addHeader("Content-Range", "bytes */" + std::to_string(size)));
    return response.sendError(
        416, "range not satisfiable: the body has " + std::to_string(size) + " bytes");
  }
  int status = 200;
  std::uint64_t offset = 0;
  std::uint64_t left = size;
  if (range.kind == RangeRequest::Kind::Partial) {
    status = 206;
    offset = range.range.first;
    left = range.range.length();
    PKGXFER_RETURN_IF_ERROR(response.addHeader("Content-Range", contentRange(range.range, size)));
  }
  PKGXFER_RETURN_IF_ERROR(response.beginStream(status, left, options.content_type));
  if (request.isHead() || left == 0) return Status::Ok();
  std::vector<char> buf(static_cast<std::size_t>(
      std::min<std::uint64_t>(std::max<std::size_t>(options.chunk_bytes, 1), left)));
  while (left > 0) {
    if (request.stopToken().stop_requested()) {
      return Status::Cancelled("serving " + std::string(request.route()) + ": stopped");
    }
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), left));
    PKGXFER_ASSIGN_OR_RETURN(std::size_t n, read_at(offset, buf.data(), want));
    if (n == 0 || n > want) {
      return Status::IoError("serving " + std::string(request.route()) + ": the body ended at " +
                             std::to_string(offset) + " of " + std::to_string(size) + " bytes");
    }
    PKGXFER_RETURN_IF_ERROR(response.write(buf.data(), n));
    offset += n;
    left -= n;
  }
  return Status::Ok();
}

}  // namespace pkgxfer::http
