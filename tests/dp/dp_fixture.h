#pragma once

// A DP serving a content library in a temporary folder over real sockets (127.0.0.1, port 0),
// for the dp tests and the HTTP transport's: the same DpService pkgxferd's `dp` component runs,
// which a test may stop and start again on the same library (a DP restart).

#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "fakes/test_util.h"
#include "http/http_test_util.h"
#include "pkgxfer/common/clock.h"
#include "pkgxfer/content/content_library.h"
#include "pkgxfer/dp/dp_service.h"

namespace pkgxfer::dp::testing {

inline constexpr const char* kToken = "0123456789abcdef-site-token";

class DpFixture : public http::testing::HttpTest {
 protected:
  DpFixture() : root_(dir_.path() / "dp01") {}
  ~DpFixture() override { stopDp(); }

  // Options of the DP to start: the test's pool, log and token, port 0 (or the last one, so a
  // restarted DP is found where it was).
  DpServiceOptions dpOptions() {
    DpServiceOptions o;
    o.name = "dp01";
    o.server = serverOptions();
    o.server.bearer_token = kToken;
    o.server.port = port_;
    return o;
  }

  // Opens the library (unless open) and starts a DpService on it; fails the test if it cannot.
  void startDp(DpServiceOptions options) {
    if (!library_) {
      content::ContentLibrary::Options lib;
      lib.sync = true;
      lib.sweep_file_lib_on_open = false;
      auto opened = content::ContentLibrary::open(root_, lib);
      ASSERT_TRUE(opened.ok()) << opened.status().toString();
      library_ = std::move(*opened);
    }
    dp_ = std::make_unique<DpService>(io_, *library_, clock_, std::move(options), logger_);
    Status s = dp_->start();
    ASSERT_TRUE(s.ok()) << s.toString();
    port_ = dp_->port();
  }
  void startDp() { startDp(dpOptions()); }

  // Stops the DP and waits for it; the library stays open unless `close_library`.
  void stopDp(bool close_library = false) {
    if (dp_) {
      std::promise<void> done;
      dp_->stop([&done] { done.set_value(); });
      EXPECT_EQ(done.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
      dp_.reset();
    }
    if (close_library) library_.reset();
  }

  // A DP process that died and came back: every upload and send it held is gone.
  void restartDp() {
    stopDp(/*close_library=*/true);
    startDp();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  pkgxfer::testing::TempDir dir_;
  const std::filesystem::path root_;
  SystemClock clock_;
  std::unique_ptr<content::ContentLibrary> library_;
  std::unique_ptr<DpService> dp_;
  std::uint16_t port_ = 0;
};

}  // namespace pkgxfer::dp::testing
