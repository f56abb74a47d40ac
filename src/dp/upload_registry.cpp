#include "upload_registry.h"

#include <algorithm>

#include "pkgxfer/common/text.h"

namespace pkgxfer::dp {

struct UploadRegistry::Entry {
  std::mutex mu;                            // held by the request using the upload
  std::unique_ptr<content::Upload> upload;  // null once released; guarded by mu
  std::uint64_t size = 0;
  std::string owner;
  std::string sha256;
  std::string id;
  Clock::SteadyTime last_used;  // guarded by the registry's mu_
};

UploadRegistry::UploadRegistry(content::ContentLibrary& library, Clock& clock, Options options)
    : library_(library), clock_(clock), options_(options) {}

UploadRegistry::~UploadRegistry() = default;

// ---- Held ---------------------------------------------------------------------------------------

UploadRegistry::Held::Held(UploadRegistry& registry, std::shared_ptr<Entry> entry)
    : registry_(&registry), entry_(std::move(entry)), lock_(entry_->mu) {}

UploadRegistry::Held::Held(Held&& other) noexcept
    : registry_(other.registry_),
      entry_(std::move(other.entry_)),
      lock_(std::move(other.lock_)),
      release_(other.release_) {}

UploadRegistry::Held::~Held() {
  if (!entry_) return;
  if (release_) {
    entry_->upload.reset();
    std::lock_guard guard(registry_->mu_);
    auto it = registry_->uploads_.find(entry_->id);
    if (it != registry_->uploads_.end() && it->second == entry_) registry_->uploads_.erase(it);
  } else {
    std::lock_guard guard(registry_->mu_);
    entry_->last_used = registry_->clock_.steadyNow();
  }
}

content::Upload& UploadRegistry::Held::upload() const { return *entry_->upload; }
std::uint64_t UploadRegistry::Held::size() const { return entry_->size; }
const std::string& UploadRegistry::Held::owner() const { return entry_->owner; }
void UploadRegistry::Held::release() { release_ = true; }

// ---- uploads ------------------------------------------------------------------------------------

Result<std::string> UploadRegistry::add(std::unique_ptr<content::Upload> upload, std::uint64_t size,
                                        std::string owner) {
  auto entry = std::make_shared<Entry>();
  const std::string id = upload->tempName();
  entry->sha256 = upload->sha256();
  entry->id = id;
  entry->upload = std::move(upload);
  entry->size = size;
  entry->owner = std::move(owner);
  std::shared_ptr<Entry> replaced;
  {
    std::lock_guard guard(mu_);
    auto it = uploads_.find(id);
    if (it == uploads_.end() && uploads_.size() >= options_.max_uploads) {
      return Status::Unavailable("the DP has " + std::to_string(uploads_.size()) +
                                 " uploads open, its limit; try again later");
    }
    entry->last_used = clock_.steadyNow();
    if (it != uploads_.end()) {
      replaced = std::move(it->second);
      it->second = entry;
    } else {
      uploads_.emplace(id, entry);
    }
  }
  if (replaced) {
    std::lock_guard lock(replaced->mu);
    replaced->upload.reset();
  }
  return id;
}

Result<UploadRegistry::Held> UploadRegistry::take(std::string_view id) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard guard(mu_);
    auto it = uploads_.find(std::string(id));
    if (it != uploads_.end()) entry = it->second;
  }
  if (!entry) return Status::NotFound("no upload " + std::string(id) + " is open on this DP");
  Held held(*this, std::move(entry));
  if (!held.entry_->upload) {  // released while we waited
    // Unlock first: ours may be the last reference, and a mutex must not die locked.
    held.lock_.unlock();
    held.entry_.reset();
    return Status::NotFound("no upload " + std::string(id) + " is open on this DP");
  }
  return held;
}

bool UploadRegistry::close(std::string_view id) {
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard guard(mu_);
    auto it = uploads_.find(std::string(id));
    if (it == uploads_.end()) return false;
    entry = std::move(it->second);
    uploads_.erase(it);
  }
  std::lock_guard lock(entry->mu);
  entry->upload.reset();
  return true;
}

void UploadRegistry::closeOwned(std::string_view owner, const std::vector<std::string>& sha256s) {
  std::vector<std::shared_ptr<Entry>> closing;
  {
    std::lock_guard guard(mu_);
    for (auto it = uploads_.begin(); it != uploads_.end();) {
      const Entry& e = *it->second;
      if (e.owner == owner &&
          std::find(sha256s.begin(), sha256s.end(), e.sha256) != sha256s.end()) {
        closing.push_back(std::move(it->second));
        it = uploads_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& entry : closing) {
    std::lock_guard lock(entry->mu);
    entry->upload.reset();
  }
}

// ---- sends --------------------------------------------------------------------------------------

Result<std::string> UploadRegistry::beginSend(std::vector<std::string> sha256s) {
  content::BodyPins pins = library_.pin(std::move(sha256s));
  std::lock_guard guard(mu_);
  if (sends_.size() >= options_.max_sends) {
    return Status::Unavailable("the DP has " + std::to_string(sends_.size()) +
                               " sends open, its limit; try again later");
  }
  std::string id = randomToken() + randomToken();
  sends_.emplace(id, Send{std::move(pins), clock_.steadyNow() + options_.send_lease});
  return id;
}

Status UploadRegistry::renewSend(std::string_view id) {
  std::lock_guard guard(mu_);
  auto it = sends_.find(std::string(id));
  if (it == sends_.end()) {
    return Status::NotFound("no send " + std::string(id) + " is open on this DP");
  }
  it->second.expires = clock_.steadyNow() + options_.send_lease;
  return Status::Ok();
}

void UploadRegistry::endSend(std::string_view id) {
  Send ended;
  std::lock_guard guard(mu_);
  auto it = sends_.find(std::string(id));
  if (it == sends_.end()) return;
  ended = std::move(it->second);
  sends_.erase(it);
}

// ---- housekeeping -------------------------------------------------------------------------------

void UploadRegistry::sweep(bool force) {
  std::vector<std::shared_ptr<Entry>> idle;
  std::vector<Send> expired;
  {
    std::lock_guard guard(mu_);
    const auto now = clock_.steadyNow();
    const auto every = std::min(options_.upload_idle_timeout, options_.send_lease) / 20;
    if (!force && last_sweep_ != Clock::SteadyTime{} && now - last_sweep_ < every) return;
    last_sweep_ = now;
    for (auto it = uploads_.begin(); it != uploads_.end();) {
      Entry& e = *it->second;
      // An upload a request holds is not idle, however long ago it started.
      std::unique_lock lock(e.mu, std::try_to_lock);
      if (lock.owns_lock() && now - e.last_used >= options_.upload_idle_timeout) {
        lock.unlock();
        idle.push_back(std::move(it->second));
        it = uploads_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = sends_.begin(); it != sends_.end();) {
      if (now >= it->second.expires) {
        expired.push_back(std::move(it->second));
        it = sends_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& entry : idle) {
    std::lock_guard lock(entry->mu);
    entry->upload.reset();
  }
}

std::size_t UploadRegistry::uploads() const {
  std::lock_guard guard(mu_);
  return uploads_.size();
}

std::size_t UploadRegistry::sends() const {
  std::lock_guard guard(mu_);
  return sends_.size();
}

}  // namespace pkgxfer::dp
