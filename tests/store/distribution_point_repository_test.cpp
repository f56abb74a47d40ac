#include "pkgxfer/store/distribution_point_repository.h"

#include <gtest/gtest.h>

#include "pkgxfer/store/distribution_repository.h"
#include "store_test_util.h"

namespace pkgxfer::store {
namespace {

class DistributionPointRepositoryTest : public StoreTest {
 protected:
  std::vector<config::DistributionPointConfig> siteDps() {
    auto dp01 = makeDp("dp01");
    dp01.content_url = "http://dp01:8531";
    auto dp03 = makeDp("dp03");
    dp03.address = "https://dp03:8531";
    auto pdp01 = makeDp("pdp01", config::DpType::Pull);
    pdp01.sources = {"dp03", "dp01"};
    return {dp01, dp03, pdp01};
  }
};

// Verifies a first sync adds every configured DP with its settings, sources in order.
TEST_F(DistributionPointRepositoryTest, SyncAddsConfiguredDps) {
  DistributionPointRepository dps(db());
  auto summary = dps.syncFromConfig(siteDps());
  ASSERT_TRUE(summary.ok()) << summary.status().toString();
  EXPECT_EQ(summary->added, (std::vector<std::string>{"dp01", "dp03", "pdp01"}));
  EXPECT_TRUE(summary->changed.empty());
  EXPECT_TRUE(summary->removed.empty());

  auto pdp = dps.get("pdp01");
  ASSERT_TRUE(pdp.ok()) << pdp.status().toString();
  EXPECT_EQ(pdp->type, config::DpType::Pull);
  EXPECT_EQ(pdp->address, "http://pdp01:8532");
  EXPECT_EQ(pdp->sources, (std::vector<std::string>{"dp03", "dp01"}));
  EXPECT_TRUE(pdp->in_config);
  EXPECT_FALSE(pdp->removed_at.has_value());
  EXPECT_EQ(pdp->added_at, nowMs());
  EXPECT_EQ(dps.get("dp01")->content_url, "http://dp01:8531");
  EXPECT_EQ(dps.get("dp01")->type, config::DpType::Standard);
  EXPECT_TRUE(dps.get("dp01")->sources.empty());
  EXPECT_EQ(dps.get("dp99").status().code(), Status::Code::NotFound);

  auto all = dps.list();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "dp01");
  EXPECT_EQ((*all)[2].name, "pdp01");
}

// Verifies an unchanged config changes nothing, and a changed DP is updated in place.
TEST_F(DistributionPointRepositoryTest, SyncUpdatesChangedDps) {
  DistributionPointRepository dps(db());
  ASSERT_TRUE(dps.syncFromConfig(siteDps()).ok());
  const Timestamp first = nowMs();
  clock_.advance(std::chrono::hours(1));

  auto same = dps.syncFromConfig(siteDps());
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->added.empty() && same->changed.empty() && same->removed.empty() &&
              same->restored.empty());
  EXPECT_EQ(dps.get("dp01")->updated_at, first);

  auto changed = siteDps();
  changed[0].address = "smb://fs01/ContentLib";
  changed[2].sources = {"dp01", "dp03"};  // order matters
  auto summary = dps.syncFromConfig(changed);
  ASSERT_TRUE(summary.ok()) << summary.status().toString();
  EXPECT_EQ(summary->changed, (std::vector<std::string>{"dp01", "pdp01"}));
  auto dp01 = dps.get("dp01");
  EXPECT_EQ(dp01->address, "smb://fs01/ContentLib");
  EXPECT_EQ(dp01->added_at, first);
  EXPECT_EQ(dp01->updated_at, nowMs());
  EXPECT_EQ(dps.get("pdp01")->sources, (std::vector<std::string>{"dp01", "dp03"}));
  EXPECT_EQ(dps.get("dp03")->updated_at, first);
}

// Verifies a DP dropped from the config is kept (with its history) and marked removed, and comes
// back when configured again.
TEST_F(DistributionPointRepositoryTest, SyncMarksRemovedAndRestores) {
  DistributionPointRepository dps(db());
  ASSERT_TRUE(dps.syncFromConfig(siteDps()).ok());
  addPackage("PS100001");
  DistributionRepository distributions(db());
  ASSERT_TRUE(distributions.start("PS100001", "dp03", 1, DistributionState::Installed).ok());

  clock_.advance(std::chrono::minutes(10));
  auto without_dp03 = siteDps();
  without_dp03.erase(without_dp03.begin() + 1);
  without_dp03[1].sources = {"dp01"};
  auto summary = dps.syncFromConfig(without_dp03);
  ASSERT_TRUE(summary.ok()) << summary.status().toString();
  EXPECT_EQ(summary->removed, (std::vector<std::string>{"dp03"}));
  EXPECT_EQ(summary->changed, (std::vector<std::string>{"pdp01"}));

  auto dp03 = dps.get("dp03");
  ASSERT_TRUE(dp03.ok());
  EXPECT_FALSE(dp03->in_config);
  EXPECT_EQ(dp03->removed_at, nowMs());
  EXPECT_EQ(dps.list()->size(), 2u);
  EXPECT_EQ(dps.list(/*include_removed=*/true)->size(), 3u);
  // Its history is still there.
  EXPECT_EQ(distributions.get("PS100001", "dp03")->state, DistributionState::Installed);

  // Syncing again does not re-stamp the removal.
  clock_.advance(std::chrono::minutes(1));
  ASSERT_TRUE(dps.syncFromConfig(without_dp03)->removed.empty());

  auto restored = dps.syncFromConfig(siteDps());
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->restored, (std::vector<std::string>{"dp03"}));
  dp03 = dps.get("dp03");
  EXPECT_TRUE(dp03->in_config);
  EXPECT_FALSE(dp03->removed_at.has_value());
}

// Verifies a config naming a DP twice is refused and changes nothing.
TEST_F(DistributionPointRepositoryTest, RefusesDuplicateNames) {
  DistributionPointRepository dps(db());
  auto twice = siteDps();
  twice.push_back(makeDp("dp01"));
  auto summary = dps.syncFromConfig(twice);
  EXPECT_EQ(summary.status().code(), Status::Code::InvalidArgument);
  EXPECT_TRUE(dps.list(true)->empty());
}

// Verifies names needing JSON escaping survive the sources column.
TEST_F(DistributionPointRepositoryTest, SourcesRoundTripAnyText) {
  DistributionPointRepository dps(db());
  auto pdp = makeDp("pdp", config::DpType::Pull);
  pdp.sources = {"a\"b", "c\\d", "tab\there", "ü"};
  ASSERT_TRUE(dps.syncFromConfig({pdp}).ok());
  EXPECT_EQ(dps.get("pdp")->sources, pdp.sources);
}

}  // namespace
}  // namespace pkgxfer::store
