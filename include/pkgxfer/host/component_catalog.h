#pragma once

// The components pkgxferd knows, with the log file each writes and in which format (SPEC §6).

#include <string_view>

#include "pkgxfer/common/log.h"

namespace pkgxfer::host {

struct ComponentInfo {
  std::string_view name;           // as in the config's `components`
  std::string_view log_stem;       // <logging.dir>/<log_stem>.log
  std::string_view log_component;  // the component tag written in each log line
  LogFormat log_format;
  bool site_server;  // needs the site block and the site database
};

// The host's own log, pkgxferd.log, in the trace format on every machine.
inline constexpr ComponentInfo kHostLog{"pkgxferd", "pkgxferd", "SMS_EXECUTIVE", LogFormat::Trace,
                                        false};

// nullptr for an unknown name.
const ComponentInfo* findComponentInfo(std::string_view name);

}  // namespace pkgxfer::host
