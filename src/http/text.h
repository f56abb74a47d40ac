#pragma once

// Private to the http module: small text helpers shared by the server and the client.

#include <cstdint>
#include <string>
#include <string_view>

#include "pkgxfer/common/status.h"

namespace pkgxfer::http::detail {

// Case-insensitive ASCII comparison (header names, tokens, schemes).
bool iequals(std::string_view a, std::string_view b);

// `s` without leading and trailing spaces and tabs.
std::string_view trimOws(std::string_view s);

// "host:port", with brackets around an IPv6 host.
std::string hostPort(std::string_view host, std::uint16_t port);

// At most `max` bytes of `s` for a log line or an error message, with "…" when cut.
std::string clip(std::string_view s, std::size_t max);

}  // namespace pkgxfer::http::detail
