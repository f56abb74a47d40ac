#pragma once

// Value types and helpers shared by the http module's server and client: header lists, the JSON
// error body every error response carries, reason phrases and header syntax checks (RFC 9110).
// Pure functions and plain values: thread-safe.

#include <string>
#include <string_view>
#include <vector>

namespace pkgxfer::http {

// One header field as sent or received. Names compare case-insensitively (findHeader).
struct Header {
  std::string name;
  std::string value;
};
using Headers = std::vector<Header>;

// The value of the first header named `name` (case-insensitive), or nullptr.
const std::string* findHeader(const Headers& headers, std::string_view name);

// The body of every error response the server produces, and of Response::sendError():
// {"error":"<message>","status":<status>}, served as application/json. Bytes of `message` that
// are not valid UTF-8 are replaced by U+FFFD, so any message can be sent.
std::string errorBody(int status, std::string_view message);

// The reason phrase HTTP gives a status ("Not Found" for 404), or "Unknown" for a code it does not
// name.
std::string_view reasonPhrase(int status);

// A field name is an RFC 9110 token (letters, digits and !#$%&'*+-.^_`|~), non-empty.
bool isValidHeaderName(std::string_view name);
// A field value has no CR, LF, NUL or other control character except horizontal tab: a value that
// passes cannot split a header (no response splitting).
bool isValidHeaderValue(std::string_view value);

}  // namespace pkgxfer::http
