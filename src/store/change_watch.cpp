#include "pkgxfer/store/change_watch.h"

namespace pkgxfer::store {

ChangeWatch::ChangeWatch(Database& db, std::chrono::steady_clock::duration period)
    : db_(db), period_(period) {}

bool ChangeWatch::due() {
  if (std::chrono::steady_clock::now() - last_read_ >= period_) return true;
  auto version = db_.dataVersion();
  return version.ok() && *version != version_;
}

void ChangeWatch::reading() {
  last_read_ = std::chrono::steady_clock::now();
  if (auto version = db_.dataVersion(); version.ok()) version_ = *version;
}

}  // namespace pkgxfer::store
