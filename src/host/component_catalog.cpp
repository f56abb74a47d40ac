#include "pkgxfer/host/component_catalog.h"

#include <array>

namespace pkgxfer::host {
namespace {

constexpr std::array<ComponentInfo, 5> kComponents{{
    {"distmgr", "distmgr", "SMS_DISTRIBUTION_MANAGER", LogFormat::Trace, true},
    {"pkgxfermgr", "pkgxfermgr", "SMS_PACKAGE_TRANSFER_MANAGER", LogFormat::Trace, true},
    {"statusreceiver", "statusreceiver", "SMS_STATUS_RECEIVER", LogFormat::Trace, true},
    {"dp", "dp", "DP", LogFormat::CmTrace, false},
    {"pulldp", "pulldp", "PullDP", LogFormat::CmTrace, false},
}};

}  // namespace

const ComponentInfo* findComponentInfo(std::string_view name) {
  for (const auto& info : kComponents) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

}  // namespace pkgxfer::host
