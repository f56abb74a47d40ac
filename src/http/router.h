#pragma once

// Private to the http module: the route table of a Server. Patterns are parsed once at addRoute();
// a request's path is split, percent-decoded and checked segment by segment before it is matched,
// so a handler only ever sees clean segment values (no '/', '\\', ':', control characters, empty,
// "." or ".."), however they were encoded. Not thread-safe to add to; match() is const and safe
// from any thread once routes are no longer added (Server::start()).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pkgxfer/common/status.h"
#include "pkgxfer/http/server.h"

namespace pkgxfer::http::detail {

struct Route {
  std::string method;   // "GET", ...
  std::string pattern;  // as registered, for logs and Request::route()
  struct Segment {
    bool named = false;
    std::string text;  // the literal, or the segment's name
  };
  std::vector<Segment> segments;
  RouteOptions options;
  Handler handler;
};

using Params = std::vector<std::pair<std::string, std::string>>;

struct RouteMatch {
  enum class Kind { Found, BadPath, NotFound, MethodNotAllowed };
  Kind kind = Kind::NotFound;
  const Route* route = nullptr;  // Found (for a HEAD without a route of its own: the GET route)
  Params params;                 // Found: decoded named segments, in pattern order
  Params query;                  // Found: decoded query parameters, in request order
  std::string allow;             // MethodNotAllowed: "GET, HEAD, PUT"
  std::string error;             // BadPath: why, for the 400 body
};

class Router {
 public:
  // See Server::addRoute.
  Status add(std::string_view method, std::string_view pattern, RouteOptions options,
             Handler handler);
  // Matches a request target (origin form: "/path" with an optional "?query", which plays no part
  // in matching but is decoded for Request::query(); a bad query is BadPath too).
  RouteMatch match(std::string_view method, std::string_view target) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

// Splits and decodes the path of `target` into `segments`. Returns the reason for a 400, or an
// empty string. Exposed for tests of the rules.
std::string decodePath(std::string_view target, std::vector<std::string>* segments);

// Splits the query of `target` (after its first '?'; none: no parameters) at '&' into name=value
// pairs, percent-decoding both ("a" alone is a="", empty pairs are skipped). Returns the reason
// for a 400 (a bad percent-encoding, a control character raw or encoded, a fragment), or an empty
// string.
std::string decodeQuery(std::string_view target, Params* query);

}  // namespace pkgxfer::http::detail
