#include "router.h"

#include <algorithm>

namespace pkgxfer::http::detail {
namespace {

bool isUpperToken(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= 'A' && c <= 'Z') || c == '_' || c == '-'; });
}

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Characters a literal pattern segment may hold: RFC 3986 unreserved plus a few sub-delims that
// need no encoding ('$', '+', ',', ';', '=', '@', '!', '*', '&', '\'', '(', ')').
bool isLiteralChar(char c) {
  if (isNameChar(c) || c == '-' || c == '.' || c == '~') return true;
  switch (c) {
    case '$':
    case '+':
    case ',':
    case ';':
    case '=':
    case '@':
    case '!':
    case '*':
    case '&':
    case '\'':
    case '(':
    case ')':
      return true;
    default:
      return false;
  }
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A decoded segment byte no handler may see: path separators of any OS, the Windows drive and
// stream separator, and control characters (NUL first of all).
bool isForbiddenByte(unsigned char c) {
  return c < 0x20 || c == 0x7F || c == '/' || c == '\\' || c == ':';
}

bool sameShape(const Route& a, const std::vector<Route::Segment>& segments) {
  if (a.segments.size() != segments.size()) return false;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (a.segments[i].named != segments[i].named) return false;
    if (!segments[i].named && a.segments[i].text != segments[i].text) return false;
  }
  return true;
}

bool matches(const Route& route, const std::vector<std::string>& segments) {
  if (route.segments.size() != segments.size()) return false;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (!route.segments[i].named && route.segments[i].text != segments[i]) return false;
  }
  return true;
}

// True if `a` is more specific than `b`: at the first position where one has a literal and the
// other a named segment, `a` has the literal.
bool moreSpecific(const Route& a, const Route& b) {
  for (std::size_t i = 0; i < a.segments.size() && i < b.segments.size(); ++i) {
    if (a.segments[i].named != b.segments[i].named) return !a.segments[i].named;
  }
  return false;
}

// Percent-decodes `raw` into `out`. False for a bad escape or a control character, raw or decoded.
bool decodeQueryPart(std::string_view raw, std::string* out) {
  out->clear();
  out->reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '%') {
      if (i + 2 >= raw.size()) return false;
      const int h = hexValue(raw[i + 1]);
      const int l = hexValue(raw[i + 2]);
      if (h < 0 || l < 0) return false;
      c = static_cast<char>(h * 16 + l);
      i += 2;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return false;
    out->push_back(c);
  }
  return true;
}

}  // namespace

std::string decodeQuery(std::string_view target, Params* query) {
  query->clear();
  const std::size_t mark = target.find('?');
  if (mark == std::string_view::npos) return {};
  std::string_view rest = target.substr(mark + 1);
  if (rest.find('#') != std::string_view::npos) return "the target holds a fragment";
  while (!rest.empty()) {
    const std::size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    std::string name;
    std::string value;
    if (!decodeQueryPart(pair.substr(0, eq), &name) ||
        (eq != std::string_view::npos && !decodeQueryPart(pair.substr(eq + 1), &value))) {
      return "the query has a bad percent-encoding or a control character";
    }
    query->emplace_back(std::move(name), std::move(value));
  }
  return {};
}

std::string decodePath(std::string_view target, std::vector<std::string>* segments) {
  segments->clear();
  if (target.empty() || target.front() != '/') return "the target is not an absolute path";
  std::string_view path = target.substr(0, target.find('?'));
  if (path.find('#') != std::string_view::npos) return "the target holds a fragment";
  if (path == "/") return {};  // the root: no segments
  path.remove_prefix(1);
  while (true) {
    const std::size_t slash = path.find('/');
    std::string_view raw = path.substr(0, slash);
    if (raw.empty()) return "the path has an empty segment";
    std::string decoded;
    decoded.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
      char c = raw[i];
      if (c == '%') {
        if (i + 2 >= raw.size()) return "the path has a bad percent-encoding";
        const int h = hexValue(raw[i + 1]);
        const int l = hexValue(raw[i + 2]);
        if (h < 0 || l < 0) return "the path has a bad percent-encoding";
        c = static_cast<char>(h * 16 + l);
        i += 2;
      }
      if (isForbiddenByte(static_cast<unsigned char>(c))) {
        return "a path segment holds a forbidden character ('/', '\\', ':' or a control "
               "character)";
      }
      decoded.push_back(c);
    }
    if (decoded == "." || decoded == "..") return "the path has a dot segment";
    segments->push_back(std::move(decoded));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return {};
}

Status Router::add(std::string_view method, std::string_view pattern, RouteOptions options,
                   Handler handler) {
  const std::string what = std::string(method) + " " + std::string(pattern);
  if (!isUpperToken(method)) {
    return Status::InvalidArgument("route " + what +
                                   ": the method must be an upper-case token ([A-Z_-]+)");
  }
  if (!handler) return Status::InvalidArgument("route " + what + ": no handler");
  if (pattern.empty() || pattern.front() != '/') {
    return Status::InvalidArgument("route " + what + ": the pattern must start with '/'");
  }
  std::vector<Route::Segment> segments;
  if (pattern != "/") {
    std::string_view rest = pattern.substr(1);
    while (true) {
      const std::size_t slash = rest.find('/');
      std::string_view seg = rest.substr(0, slash);
      Route::Segment s;
      if (seg.size() >= 3 && seg.front() == '{' && seg.back() == '}') {
        s.named = true;
        s.text = std::string(seg.substr(1, seg.size() - 2));
        if (!std::all_of(s.text.begin(), s.text.end(), isNameChar)) {
          return Status::InvalidArgument("route " + what + ": bad segment name '" + s.text + "'");
        }
        for (const auto& other : segments) {
          if (other.named && other.text == s.text) {
            return Status::InvalidArgument("route " + what + ": segment name '" + s.text +
                                           "' used twice");
          }
        }
      } else {
        if (seg.empty() || seg == "." || seg == ".." ||
            !std::all_of(seg.begin(), seg.end(), isLiteralChar)) {
          return Status::InvalidArgument("route " + what + ": bad segment '" + std::string(seg) +
                                         "'");
        }
        s.text = std::string(seg);
      }
      segments.push_back(std::move(s));
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
  }
  for (const Route& r : routes_) {
    if (r.method == method && sameShape(r, segments)) {
      return Status::AlreadyExists("route " + what + ": already registered as " + r.method + " " +
                                   r.pattern);
    }
  }
  Route route;
  route.method = std::string(method);
  route.pattern = std::string(pattern);
  route.segments = std::move(segments);
  route.options = std::move(options);
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
  return Status::Ok();
}

RouteMatch Router::match(std::string_view method, std::string_view target) const {
  RouteMatch m;
  std::vector<std::string> segments;
  m.error = decodePath(target, &segments);
  if (!m.error.empty()) {
    m.kind = RouteMatch::Kind::BadPath;
    return m;
  }
  std::vector<const Route*> candidates;
  for (const Route& r : routes_) {
    if (matches(r, segments)) candidates.push_back(&r);
  }
  if (candidates.empty()) {
    m.kind = RouteMatch::Kind::NotFound;
    return m;
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Route* a, const Route* b) { return moreSpecific(*a, *b); });
  const Route* found = nullptr;
  for (const Route* r : candidates) {
    if (r->method == method) {
      found = r;
      break;
    }
  }
  if (found == nullptr && method == "HEAD") {
    for (const Route* r : candidates) {
      if (r->method == "GET") {
        found = r;
        break;
      }
    }
  }
  if (found == nullptr) {
    std::vector<std::string> allowed;
    for (const Route* r : candidates) {
      allowed.push_back(r->method);
      if (r->method == "GET") allowed.push_back("HEAD");
    }
    std::sort(allowed.begin(), allowed.end());
    allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
    for (const std::string& a : allowed) {
      if (!m.allow.empty()) m.allow += ", ";
      m.allow += a;
    }
    m.kind = RouteMatch::Kind::MethodNotAllowed;
    return m;
  }
  m.error = decodeQuery(target, &m.query);
  if (!m.error.empty()) {
    m.kind = RouteMatch::Kind::BadPath;
    return m;
  }
  m.kind = RouteMatch::Kind::Found;
  m.route = found;
  for (std::size_t i = 0; i < found->segments.size(); ++i) {
    if (found->segments[i].named) m.params.emplace_back(found->segments[i].text, segments[i]);
  }
  return m;
}

}  // namespace pkgxfer::http::detail
