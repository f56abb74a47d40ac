#pragma once

// A Transport that forwards to a real one and records what went through it: bodies opened, bytes
// written, and how many jobs were inside it at once. It can also hold each job a while (to make
// concurrency observable) and fail a write once after some bytes (a connection lost mid-file).

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "pkgxfer/transport/transport.h"

namespace pkgxfer::testing {

struct TransportRecord {
  std::mutex mu;
  std::map<std::string, int> bodies_opened;  // by sha256; guarded by mu
  std::atomic<std::uint64_t> bytes_written{0};
  std::atomic<int> inventory_delay_ms{0};
  std::atomic<int> inventory_calls{0};
  std::atomic<int> write_delay_us{0};  // per write (block): a slow link
  std::atomic<int> syncs{0};           // Transport::sync() calls
  // When bytes_written would pass this, the write fails once with Unavailable. -1 = never.
  std::atomic<std::int64_t> fail_write_after{-1};
  // Called on the job's thread after each successful write with bytes_written; set before the
  // transfers start.
  std::function<void(std::uint64_t)> after_write;

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
  Status write(const void* data, std::size_t size) override {
    std::int64_t limit = record_.fail_write_after.load();
    if (limit >= 0 && record_.bytes_written.load() + size > static_cast<std::uint64_t>(limit)) {
      record_.fail_write_after.store(-1);
      return Status::Unavailable("write to the DP: Connection reset by peer (ECONNRESET)");
    }
    if (int us = record_.write_delay_us.load(); us > 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(us));
    }
    PKGXFER_RETURN_IF_ERROR(inner_->write(data, size));
    const std::uint64_t total = record_.bytes_written += size;
    if (record_.after_write) record_.after_write(total);
    return Status::Ok();
  }
  Status flush() override { return inner_->flush(); }
  Status seal() override { return inner_->seal(); }
  Status install(bool durable) override { return inner_->install(durable); }
  void abort() override { inner_->abort(); }
  std::size_t leftoversDiscarded() const override { return inner_->leftoversDiscarded(); }

 private:
  std::unique_ptr<transport::BodyUpload> inner_;
  TransportRecord& record_;
};

class RecordingTransport final : public transport::Transport {
 public:
  RecordingTransport(std::shared_ptr<transport::Transport> inner, TransportRecord& record)
      : inner_(std::move(inner)), record_(record) {}
  std::string describe() const override { return inner_->describe(); }
  Result<transport::ProbeResult> probe() override { return inner_->probe(); }
  Result<content::ShaSet> inventory(const std::vector<std::string>& sha256s) override {
    ++record_.inventory_calls;
    if (int ms = record_.inventory_delay_ms.load(); ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));  // holds the job's slot
    }
    return inner_->inventory(sha256s);
  }
  Result<std::unique_ptr<transport::BodyUpload>> openBody(
      const transport::BodySpec& spec) override {
    {
      std::lock_guard<std::mutex> lock(record_.mu);
      ++record_.bodies_opened[spec.sha256];
    }
    PKGXFER_ASSIGN_OR_RETURN(auto up, inner_->openBody(spec));
    return std::unique_ptr<transport::BodyUpload>(
        std::make_unique<RecordingUpload>(std::move(up), record_));
  }
  Status sync() override {
    ++record_.syncs;
    return inner_->sync();
  }
  Status discardTemp(std::string_view sha256, std::string_view temp_name) override {
    return inner_->discardTemp(sha256, temp_name);
  }
  Result<std::size_t> discardTemps(const std::vector<std::string>& sha256s,
                                   std::string_view owner) override {
    return inner_->discardTemps(sha256s, owner);
  }
  Status commitManifest(const content::Manifest& manifest) override {
    return inner_->commitManifest(manifest);
  }
  Result<content::Manifest> readManifest(std::string_view package_id,
                                         std::uint64_t version) override {
    return inner_->readManifest(package_id, version);
  }
  Result<std::string> readManifestJson(std::string_view package_id,
                                       std::uint64_t version) override {
    return inner_->readManifestJson(package_id, version);
  }
  Result<std::vector<std::uint64_t>> listVersions(std::string_view package_id) override {
    return inner_->listVersions(package_id);
  }
  Result<content::ValidationReport> validate(std::string_view package_id,
                                             std::uint64_t version) override {
    return inner_->validate(package_id, version);
  }
  Status removeContent(std::string_view package_id, std::uint64_t version) override {
    return inner_->removeContent(package_id, version);
  }

 private:
  std::shared_ptr<transport::Transport> inner_;
  TransportRecord& record_;
};

// A factory making recording file transports (no fsync) that all report to `record`.
inline transport::TransportFactory recordingFactory(TransportRecord& record) {
  transport::TransportOptions options;
  options.sync = false;
  auto real = transport::defaultTransportFactory(options);
  return [real, &record](const config::DistributionPointConfig& dp)
             -> Result<std::shared_ptr<transport::Transport>> {
    PKGXFER_ASSIGN_OR_RETURN(auto inner, real(dp));
    return std::shared_ptr<transport::Transport>(
        std::make_shared<RecordingTransport>(std::move(inner), record));
  };
}

}  // namespace pkgxfer::testing
