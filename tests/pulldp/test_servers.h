#pragma once

// Servers the pull DP talks to, in the test process: a source DP whose answers a test scripts
// (cut, corrupt or stalled on demand) and a stand-in for the site's status receiver. Used by the
// pulldp tests and the end-to-end test of a real pkgxferd hosting pulldp.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "http/http_test_util.h"
#include "pkgxfer/http/range.h"
#include "pkgxfer/http/server.h"
#include "pkgxfer/transport/pull_protocol.h"

namespace pkgxfer::pulldp::testing {

inline constexpr const char* kToken = "0123456789abcdef-site-token";
using transport::pull::JobStatus;
using transport::pull::Notification;
using transport::pull::PullState;

// A body of `size` deterministic bytes (seed picks which).
inline std::string makeBody(std::size_t size, std::uint32_t seed) {
  std::string s(size, '\0');
  http::testing::fillPattern(s.data(), size, 0, seed);
  return s;
}

// A source DP whose answers a test scripts: GET/HEAD /v1/files/{sha256} from memory, with Range.
class ScriptedSource {
 public:
  struct Served {
    std::string sha256;
    std::string range;  // the request's Range header ("" if none)
    std::uint64_t bytes = 0;
  };
  // What the next requests get.
  std::atomic<std::uint64_t> cut_after{0};    // > 0: send this many bytes of the body, then close
  std::atomic<std::uint64_t> stall_after{0};  // > 0: send this many bytes, then wait for release
  std::atomic<bool> corrupt{false};           // serve the right size with wrong bytes
  std::atomic<bool> stall_whole{false};       // wait for release before answering at all
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};

  void add(const std::string& body) {
    std::lock_guard lock(mu_);
    bodies_[http::testing::sha256Hex(body)] = body;
  }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  std::vector<Served> served() {
    std::lock_guard lock(mu_);
    return served_;
  }

  void addRoutes(http::Server& server) {
    Status s = server.addRoute(
        "GET", "/v1/files/{sha256}", {},
        [this](http::Request& req, http::Response& res) { return serve(req, res); });
    ASSERT_TRUE(s.ok()) << s.toString();
  }

 private:
  bool waitRelease(http::Request& req) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] {
      return released_ || req.stopToken().stop_requested();
    }) && released_;
  }

  Status serve(http::Request& req, http::Response& res) {
    const int now = ++in_flight;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    struct Leave {
      std::atomic<int>& n;
      ~Leave() { --n; }
    } leave{in_flight};
    std::string body;
    {
      std::lock_guard lock(mu_);
      auto it = bodies_.find(req.param("sha256"));
      if (it == bodies_.end()) return res.sendError(404, "no such body");
      body = it->second;
    }
    if (corrupt) body[body.size() / 2] ^= 0x5a;
    if (stall_whole && !waitRelease(req)) return res.sendError(503, "stalled");
    Served record{req.param("sha256"), std::string(req.header("Range")), 0};
    const std::uint64_t cut = cut_after.load();
    const std::uint64_t stall = stall_after.load();
    std::uint64_t sent = 0;
    Status s = http::serveSized(
        req, res, body.size(),
        [&](std::uint64_t offset, char* buf, std::size_t size) -> Result<std::size_t> {
          std::size_t n = std::min<std::size_t>(size, 64 * 1024);
          n = std::min<std::size_t>(n, body.size() - offset);
          if (cut > 0 && sent >= cut) return Status::Unavailable("cut on purpose");
          if (cut > 0) n = std::min<std::uint64_t>(n, cut - sent);
          if (stall > 0 && sent >= stall && !waitRelease(req)) {
            return Status::Unavailable("stalled on purpose");
          }
          if (stall > 0 && sent < stall) n = std::min<std::uint64_t>(n, stall - sent);
          std::memcpy(buf, body.data() + offset, n);
          sent += n;
          return n;
        });
    record.bytes = sent;
    std::lock_guard lock(mu_);
    served_.push_back(record);
    return s;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::map<std::string, std::string> bodies_;
  std::vector<Served> served_;
};

// The site's statusreceiver, as far as the pull DP can tell: records every POST /v1/status and
// answers `answer` (200, or e.g. 503).
class SiteReceiver {
 public:
  std::atomic<int> answer{200};
  std::atomic<std::int64_t> unknown_job{0};  // answered 404, as the site does for a job it lacks

  void addRoutes(http::Server& server) {
    http::RouteOptions o;
    o.requires_auth = true;
    Status s = server.addRoute("POST", "/v1/status", o,
                               [this](http::Request& req, http::Response& res) -> Status {
                                 auto body = req.readBody(1 << 20);
                                 if (!body.ok()) return body.status();
                                 auto status = transport::pull::parseJobStatus(*body);
                                 if (!status.ok()) return res.sendError(400, "bad status");
                                 if (status->job_id == unknown_job) {
                                   std::lock_guard lock(mu_);
                                   attempts_.push_back(*status);
                                   return res.sendError(404, "no such transfer job");
                                 }
                                 {
                                   std::lock_guard lock(mu_);
                                   attempts_.push_back(*status);
                                   if (answer == 200) received_.push_back(*status);
                                 }
                                 return res.send(answer, "{}");
                               });
    ASSERT_TRUE(s.ok()) << s.toString();
  }
  // Statuses acknowledged (answered 200), in arrival order.
  std::vector<JobStatus> received() {
    std::lock_guard lock(mu_);
    return received_;
  }
  std::size_t attempts() {
    std::lock_guard lock(mu_);
    return attempts_.size();
  }
  std::optional<JobStatus> last(std::int64_t job_id) {
    std::lock_guard lock(mu_);
    for (auto it = received_.rbegin(); it != received_.rend(); ++it) {
      if (it->job_id == job_id) return *it;
    }
    return std::nullopt;
  }
  bool has(std::int64_t job_id, PullState state) {
    auto s = last(job_id);
    return s && s->state == state;
  }

 private:
  std::mutex mu_;
  std::vector<JobStatus> attempts_;
  std::vector<JobStatus> received_;
};

using ::pkgxfer::testing::freePort;

}  // namespace pkgxfer::pulldp::testing
