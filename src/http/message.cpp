#include "pkgxfer/http/message.h"

#include <boost/beast/http/status.hpp>

#include <nlohmann/json.hpp>

#include "text.h"

namespace pkgxfer::http {
namespace {

bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

}  // namespace

const std::string* findHeader(const Headers& headers, std::string_view name) {
  for (const Header& h : headers) {
    if (detail::iequals(h.name, name)) return &h.value;
  }
  return nullptr;
}

std::string errorBody(int status, std::string_view message) {
  nlohmann::json body = {{"error", std::string(message)}, {"status", status}};
  // replace: a message quoting a peer's bytes (a path, a header) may hold invalid UTF-8, which
  // dump() would otherwise throw on.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string_view reasonPhrase(int status) {
  if (status < 100 || status > 999) return "Unknown";
  auto reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  std::string_view text(reason.data(), reason.size());
  if (text.empty() || text.front() == '<') return "Unknown";  // Beast's "<unknown-status>"
  return text;
}

bool isValidHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!isTokenChar(c)) return false;
  }
  return true;
}

bool isValidHeaderValue(std::string_view value) {
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7F) return false;
  }
  return true;
}

}  // namespace pkgxfer::http
