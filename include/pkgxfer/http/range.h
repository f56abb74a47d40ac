#pragma once

// Byte ranges (RFC 9110 §14): parsing a request's Range header and answering it for a body of
// known size (serveSized, for a DP's GET/HEAD /v1/files/{sha256}), and the client side: asking for
// "bytes=N-" to resume a download and reading the Content-Range of a 206. One range per request:
// a multi-range request is answered with the whole body (200), which RFC 9110 allows.
// Pure functions, thread-safe (serveSized: as thread-safe as the Request and Response it is
// given).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "pkgxfer/common/status.h"
#include "pkgxfer/http/server.h"

namespace pkgxfer::http {

// Bytes first..last of a body, both inclusive (as HTTP writes them).
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t length() const { return last - first + 1; }
};

// What a request's Range header asks of a body of a given size.
struct RangeRequest {
  enum class Kind {
    Whole,          // no Range, or one to ignore (not "bytes=", malformed, several ranges): 200
    Partial,        // one satisfiable range, clipped to the body: 206 with `range`
    Unsatisfiable,  // a valid range that selects nothing of this body: 416
  };
  Kind kind = Kind::Whole;
  ByteRange range;  // for Partial
};

// Parses `header` (the Range value; empty = none) against a body of `size` bytes. Accepts
// "bytes=a-b" (b clipped to size-1), "bytes=a-" and "bytes=-n" (the last n bytes), with optional
// whitespace around the header and after "=" (RFC 9110's list syntax allows it around the range)
// and around "-", but none before "=" ("bytes =0-1" is Whole); "bytes=a-b" with b < a is
// malformed (Whole). A
// range starting at or after `size`, or "bytes=-0", is Unsatisfiable.
RangeRequest parseRange(std::string_view header, std::uint64_t size);

// "bytes first-last/size", the Content-Range of a 206.
std::string contentRange(const ByteRange& range, std::uint64_t size);

// The Range value asking for everything from `offset` on: "bytes=<offset>-".
std::string rangeFrom(std::uint64_t offset);

// A parsed Content-Range response header.
struct ContentRange {
  bool satisfied = true;                         // false for "bytes */size" (the form a 416 sends)
  ByteRange range;                               // when satisfied
  std::optional<std::uint64_t> complete_length;  // the body's size; nullopt for "/*"
};
// Parses "bytes a-b/size", "bytes a-b/*" and "bytes */size". InvalidArgument otherwise (also for
// b < a, or b >= size).
Result<ContentRange> parseContentRange(std::string_view header);

// Reads up to `size` bytes of the body at `offset` into `buf`; returns how many (> 0 unless the
// body ended early, which serveSized reports as an error).
using ReadAt =
    std::function<Result<std::size_t>(std::uint64_t offset, char* buf, std::size_t size)>;

struct ServeSizedOptions {
  std::string content_type = "application/octet-stream";
  // Sent as ETag (give it quoted, e.g. "\"<sha256>\""). A request's If-Range must equal it for its
  // Range to be honoured; without an ETag, If-Range always means the whole body.
  std::string etag;
  // Bytes read per ReadAt call and Response::write. Default 1 MiB.
  std::size_t chunk_bytes = 1024 * 1024;
};

// Answers `request` with a body of `size` bytes read through `read_at`: 200 with the whole body,
// 206 with Content-Range for a satisfiable Range, or 416 with "Content-Range: bytes */size" and a
// JSON error body. Sends Accept-Ranges: bytes. HEAD: the same status and headers, and no ReadAt
// call. Errors: read_at's (the connection is then closed, as the body is cut), or Response's.
Status serveSized(Request& request, Response& response, std::uint64_t size, const ReadAt& read_at,
                  const ServeSizedOptions& options = {});

}  // namespace pkgxfer::http
