// The dp component's HTTP API (docs/http-api.md) on real sockets: see dp_fixture.h.

#include <gtest/gtest.h>

#include "dp/dp_fixture.h"

namespace pkgxfer::dp {
namespace {

class DpServiceTest : public testing::DpFixture {
 protected:
  void SetUp() override { startDp(); }
};

TEST_F(DpServiceTest, ServesItsLibrary) {
  auto client = makeClient(port_);
  auto r = client->get(within(std::chrono::seconds(10)), "/v1/library");
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace pkgxfer::dp
