// distribute / redistribute / validate / remove of the real pkgxfer binary: they queue requests
// in the site database (the service's queue) and work while the service is down.

#include <gtest/gtest.h>

#include "fakes/test_util.h"
#include "pkgxfer/common/clock.h"
#include "pkgxfer/store/database.h"
#include "pkgxfer/store/request_repository.h"
#include "site_fixture.h"

namespace pkgxfer {
namespace {

using testing::writeFile;

class RequestCliTest : public testing::SiteFixture {
 protected:
  void SetUp() override {
    writeSiteConfig(3);
    writeFile(dir_ / "src" / "a.txt", "a");
    auto r = pkgxfer(
        {"package", "add", "--id", "PS100001", "--name", "A", "--source", (dir_ / "src").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // The queue as the service will see it.
  std::vector<store::RequestRow> queued() {
    auto db = store::Database::open(dir_ / "site" / "site.db", SystemClock::instance());
    EXPECT_TRUE(db.ok()) << db.error().toString();
    store::RequestRepository requests(**db);
    auto rows = requests.list(store::RequestState::Pending);
    EXPECT_TRUE(rows.ok());
    return rows.ok() ? *rows : std::vector<store::RequestRow>{};
  }
};

TEST_F(RequestCliTest, DistributeQueuesOneRequestPerDp) {
  auto r = pkgxfer({"distribute", "PS100001", "--dp", "dp01", "--dp", "dp03"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Queued distribute of PS100001 (version 1) to dp01, dp03"),
            std::string::npos)
      << r.out;
  auto rows = queued();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].kind, store::RequestKind::Distribute);
  EXPECT_EQ(rows[0].package_id, "PS100001");
  EXPECT_EQ(rows[0].dp, "dp01");
  EXPECT_EQ(rows[1].dp, "dp03");
}

TEST_F(RequestCliTest, AllDpsQueuesEveryConfiguredDp) {
  auto r = pkgxfer({"distribute", "PS100001", "--all-dps"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(queued().size(), 3u);
}

TEST_F(RequestCliTest, EachKindIsQueuedAsItsKind) {
  ASSERT_EQ(pkgxfer({"redistribute", "PS100001", "--dp", "dp01"}).exit_code, 0);
  ASSERT_EQ(pkgxfer({"validate", "PS100001", "--dp", "dp02"}).exit_code, 0);
  ASSERT_EQ(pkgxfer({"remove", "PS100001", "--dp", "dp03"}).exit_code, 0);
  auto rows = queued();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].kind, store::RequestKind::Redistribute);
  EXPECT_EQ(rows[1].kind, store::RequestKind::Validate);
  EXPECT_EQ(rows[2].kind, store::RequestKind::Remove);
}

TEST_F(RequestCliTest, UnknownDpQueuesNothing) {
  auto r = pkgxfer({"distribute", "PS100001", "--dp", "dp01", "--dp", "dp99"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown distribution point dp99"), std::string::npos) << r.err;
  EXPECT_TRUE(queued().empty());
}

TEST_F(RequestCliTest, UnknownPackageQueuesNothing) {
  auto r = pkgxfer({"distribute", "PS100002", "--dp", "dp01"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown package PS100002"), std::string::npos) << r.err;
  EXPECT_TRUE(queued().empty());
}

TEST_F(RequestCliTest, DpSelectionIsRequiredAndExclusive) {
  EXPECT_EQ(pkgxfer({"distribute", "PS100001"}).exit_code, 2);
  EXPECT_EQ(pkgxfer({"distribute", "PS100001", "--dp", "dp01", "--all-dps"}).exit_code, 2);
  EXPECT_EQ(pkgxfer({"distribute", "PSX00001", "--dp", "dp01"}).exit_code, 2);
  EXPECT_TRUE(queued().empty());
}

}  // namespace
}  // namespace pkgxfer
