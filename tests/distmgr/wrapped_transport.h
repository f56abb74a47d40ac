#pragma once

// A Transport that forwards to a real one and records what went through it: bodies opened, bytes
// written, batches installed, and how many jobs were inside it at once. It can also hold each job a
// while (to make concurrency observable), fail a write once after some bytes (a connection lost
// mid-file), throw from a write (a bug on a stream thread), or hang in a write until the call's
// stop token fires (a DP that stopped answering).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>

#include "pkgxfer/fs/file_system.h"
#include "pkgxfer/transport/file_transport.h"
#include "pkgxfer/transport/transport.h"

namespace pkgxfer::testing {

struct TransportRecord {
  std::mutex mu;
  std::map<std::string, int> bodies_opened;  // by sha256; guarded by mu
  std::atomic<std::uint64_t> bytes_written{0};
  std::atomic<int> inventory_delay_ms{0};
  std::atomic<int> inventory_calls{0};
  std::atomic<int> write_delay_us{0};  // per write (block): a slow link
  std::atomic<int> installs{0};        // ContentSend::install() calls (one per batch)
  // When bytes_written would pass this, the write fails once with Unavailable. -1 = never.
  std::atomic<std::int64_t> fail_write_after{-1};
  // When bytes_written would pass this, the write throws std::runtime_error once. -1 = never.
  std::atomic<std::int64_t> throw_write_after{-1};
  // While set, a write waits until the job's stop token fires (then fails Cancelled) or
  // releaseWrites() is called (then goes on).
  std::atomic<bool> hang_writes{false};
  std::atomic<int> hanging{0};  // writes waiting now
  std::mutex hang_mu;
  std::condition_variable_any hang_cv;
  void releaseWrites() {
    {
      std::lock_guard<std::mutex> lock(hang_mu);
      hang_writes = false;
    }
    hang_cv.notify_all();
  }
  // Called on the job's thread after each successful write with bytes_written; set before the
  // transfers start.
  std::function<void(std::uint64_t)> after_write;
  // The file system the DPs' libraries are reached through (default: the local one); e.g. a
  // FaultInjectingFileSystem. Set before the transports are made, as `sync` (fsync on the DPs).
  fs::FileSystem* file_system = nullptr;
  bool sync = false;

  int opened(const std::string& sha) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = bodies_opened.find(sha);
    return it == bodies_opened.end() ? 0 : it->second;
  }
  int openedTotal() {
    std::lock_guard<std::mutex> lock(mu);
    int n = 0;
    for (const auto& [sha, count] : bodies_opened) n += count;
    return n;
  }
};

class RecordingUpload final : public transport::BodyUpload {
 public:
  RecordingUpload(std::unique_ptr<transport::BodyUpload> inner, TransportRecord& record)
      : inner_(std::move(inner)), record_(record) {}
  const std::string& tempName() const override { return inner_->tempName(); }
  std::uint64_t offset() const override { return inner_->offset(); }
  Status write(const void* data, std::size_t size, const CallContext& ctx) override {
    if (record_.hang_writes.load()) {
      // A DP that stopped answering: only the call's stop token (or deadline), or the test's
      // releaseWrites(), gets us out.
      ++record_.hanging;
      bool released = false;
      {
        std::unique_lock<std::mutex> lock(record_.hang_mu);
        released = record_.hang_cv.wait_until(lock, ctx.stop, ctx.deadline,
                                              [&] { return !record_.hang_writes.load(); });
      }
      --record_.hanging;
      if (!released) return ctx.check("write to the DP");
    }
    std::int64_t limit = record_.fail_write_after.load();
    if (limit >= 0 && record_.bytes_written.load() + size > static_cast<std::uint64_t>(limit)) {
      record_.fail_write_after.store(-1);
      return Status::Unavailable("write to the DP: Connection reset by peer (ECONNRESET)");
    }
    std::int64_t throw_at = record_.throw_write_after.load();
    if (throw_at >= 0 &&
        record_.bytes_written.load() + size > static_cast<std::uint64_t>(throw_at)) {
      record_.throw_write_after.store(-1);
      throw std::runtime_error("vector::_M_range_check: __n (which is 7) >= this->size()");
    }
    if (int us = record_.write_delay_us.load(); us > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(us));
    }
    PKGXFER_RETURN_IF_ERROR(inner_->write(data, size, ctx));
    const std::uint64_t total = record_.bytes_written += size;
    if (record_.after_write) record_.after_write(total);
    return Status::Ok();
  }
  Status checkpoint(const CallContext& ctx) override { return inner_->checkpoint(ctx); }
  Status seal(const CallContext& ctx) override { return inner_->seal(ctx); }
  void abort() override { inner_->abort(); }
  std::size_t leftoversDiscarded() const override { return inner_->leftoversDiscarded(); }
  transport::BodyUpload& inner() { return *inner_; }

 private:
  std::unique_ptr<transport::BodyUpload> inner_;
  TransportRecord& record_;
};

class RecordingSend final : public transport::ContentSend {
 public:
  RecordingSend(std::unique_ptr<transport::ContentSend> inner, TransportRecord& record)
      : inner_(std::move(inner)), record_(record) {}
  Result<std::unique_ptr<transport::BodyUpload>> openBody(const transport::BodySpec& spec,
                                                          const CallContext& ctx) override {
    {
      std::lock_guard<std::mutex> lock(record_.mu);
      ++record_.bodies_opened[spec.sha256];
    }
    PKGXFER_ASSIGN_OR_RETURN(auto up, inner_->openBody(spec, ctx));
    return std::unique_ptr<transport::BodyUpload>(
        std::make_unique<RecordingUpload>(std::move(up), record_));
  }
  Status install(std::span<transport::BodyUpload* const> sealed, const CallContext& ctx) override {
    ++record_.installs;
    std::vector<transport::BodyUpload*> inner;
    for (transport::BodyUpload* b : sealed)
      inner.push_back(&static_cast<RecordingUpload*>(b)->inner());
    return inner_->install(inner, ctx);
  }
  Status commit(const CallContext& ctx) override { return inner_->commit(ctx); }
  Result<std::size_t> discardLeftovers(const std::vector<std::string>& sha256s,
                                       const CallContext& ctx) override {
    return inner_->discardLeftovers(sha256s, ctx);
  }

 private:
  std::unique_ptr<transport::ContentSend> inner_;
  TransportRecord& record_;
};

class RecordingTransport final : public transport::Transport {
 public:
  RecordingTransport(std::shared_ptr<transport::Transport> inner, TransportRecord& record)
      : inner_(std::move(inner)), record_(record) {}
  std::string describe() const override { return inner_->describe(); }
  Result<transport::ProbeResult> probe(const CallContext& ctx,
                                       const transport::ProbeOptions& options = {}) override {
    return inner_->probe(ctx, options);
  }
  Result<content::ShaSet> inventory(const std::vector<std::string>& sha256s,
                                    const CallContext& ctx) override {
    ++record_.inventory_calls;
    if (int ms = record_.inventory_delay_ms.load(); ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));  // holds the job's slot
    }
    return inner_->inventory(sha256s, ctx);
  }
  Result<std::unique_ptr<transport::ContentSend>> beginSend(
      std::shared_ptr<const content::Manifest> manifest, std::string owner,
      const CallContext& ctx) override {
    PKGXFER_ASSIGN_OR_RETURN(auto send,
                             inner_->beginSend(std::move(manifest), std::move(owner), ctx));
    return std::unique_ptr<transport::ContentSend>(
        std::make_unique<RecordingSend>(std::move(send), record_));
  }
  Status discardTemp(std::string_view sha256, std::string_view temp_name,
                     const CallContext& ctx) override {
    return inner_->discardTemp(sha256, temp_name, ctx);
  }
  Result<std::size_t> discardLeftovers(std::string_view owner,
                                       const std::vector<std::string>& sha256s,
                                       const CallContext& ctx) override {
    return inner_->discardLeftovers(owner, sha256s, ctx);
  }
  Result<std::size_t> removeBodies(const std::vector<std::string>& sha256s,
                                   const CallContext& ctx) override {
    return inner_->removeBodies(sha256s, ctx);
  }
  Result<content::Manifest> readManifest(std::string_view package_id, std::uint64_t version,
                                         const CallContext& ctx) override {
    return inner_->readManifest(package_id, version, ctx);
  }
  Result<std::string> readManifestJson(std::string_view package_id, std::uint64_t version,
                                       const CallContext& ctx) override {
    return inner_->readManifestJson(package_id, version, ctx);
  }
  Result<std::vector<std::uint64_t>> listVersions(std::string_view package_id,
                                                  const CallContext& ctx) override {
    return inner_->listVersions(package_id, ctx);
  }
  Result<content::ValidationReport> validate(std::string_view package_id, std::uint64_t version,
                                             const CallContext& ctx) override {
    return inner_->validate(package_id, version, ctx);
  }
  Status removeContent(std::string_view package_id, std::uint64_t version,
                       const CallContext& ctx) override {
    return inner_->removeContent(package_id, version, ctx);
  }

 private:
  std::shared_ptr<transport::Transport> inner_;
  TransportRecord& record_;
};

// File transports over record.file_system (default the local one), without fsync unless
// record.sync, all reporting to `record`.
inline transport::TransportFactory recordingFactory(TransportRecord& record) {
  return [&record](const config::DistributionPointConfig& dp)
             -> Result<std::shared_ptr<transport::Transport>> {
    if (dp.file() == nullptr) return Status::Unavailable("not a file DP: " + dp.address);
    transport::FileTransportOptions options;
    options.sync = record.sync;
    fs::FileSystem& on = record.file_system ? *record.file_system : fs::FileSystem::local();
    auto inner = std::make_shared<transport::FileTransport>(on, dp.file()->root, options);
    return std::shared_ptr<transport::Transport>(
        std::make_shared<RecordingTransport>(std::move(inner), record));
  };
}

}  // namespace pkgxfer::testing
