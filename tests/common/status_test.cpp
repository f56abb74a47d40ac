#include "pkgxfer/common/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace pkgxfer {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::Ok);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.toString(), "OK");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(StatusTest, ErrorCarriesKindAndMessage) {
  Status s = Status::NotFound("package PS100001");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::NotFound);
  EXPECT_EQ(s.message(), "package PS100001");
  EXPECT_EQ(s.toString(), "Not found: package PS100001");
  EXPECT_EQ(Status::InvalidArgument("x").toString(), "Invalid argument: x");
  EXPECT_EQ(Status::IoError("x").toString(), "I/O error: x");
}

// Verifies that constructing with Code::Ok yields OK whatever the message.
TEST(StatusTest, OkCodeDropsMessage) {
  Status s(Status::Code::Ok, "ignored");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.message(), "");
}

TEST(StatusTest, WithContextPrefixesMessageAndKeepsKind) {
  Status s = Status::PermissionDenied("Permission denied (EACCES)")
                 .withContext("open smb://dp02/ContentLib/FileLib/3a4f");
  EXPECT_EQ(s.code(), Status::Code::PermissionDenied);
  EXPECT_EQ(s.message(), "open smb://dp02/ContentLib/FileLib/3a4f: Permission denied (EACCES)");
  EXPECT_TRUE(Status::Ok().withContext("anything").ok());
}

TEST(StatusTest, CopiesShareState) {
  Status a = Status::Internal("boom");
  Status b = a;
  EXPECT_EQ(b.code(), Status::Code::Internal);
  EXPECT_EQ(b.message(), "boom");
  Status c = a.withContext("ctx");
  EXPECT_EQ(a.message(), "boom");  // the original is unchanged
  EXPECT_EQ(c.message(), "ctx: boom");
}

TEST(StatusTest, CodeNames) {
  EXPECT_EQ(codeName(Status::Code::Ok), "OK");
  EXPECT_EQ(codeName(Status::Code::Unavailable), "Unavailable");
  EXPECT_EQ(codeName(Status::Code::Cancelled), "Cancelled");
}

TEST(ResultTest, HoldsValue) {
  Result<int> r = 42;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.has_value());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(r.value_or(7), 42);
}

TEST(ResultTest, HoldsError) {
  Result<std::string> r = Status::Corruption("hash mismatch");
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code(), Status::Code::Corruption);
  EXPECT_EQ(r.status().message(), "hash mismatch");
  EXPECT_EQ(r.value_or("fallback"), "fallback");
}

TEST(ResultTest, MovesOutMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(**r, 5);
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 5);
}

TEST(ResultTest, ArrowReachesMembers) {
  Result<std::string> r = std::string("abc");
  EXPECT_EQ(r->size(), 3u);
}

Result<int> parsePositive(int v) {
  if (v <= 0) {
    return Status::InvalidArgument("not positive: " + std::to_string(v));
  }
  return v;
}

Result<int> doubled(int v) {
  PKGXFER_ASSIGN_OR_RETURN(int x, parsePositive(v));
  return x * 2;
}

Status checkBoth(int a, int b) {
  PKGXFER_RETURN_IF_ERROR(parsePositive(a).status());
  PKGXFER_RETURN_IF_ERROR(parsePositive(b).status());
  return Status::Ok();
}

TEST(ResultTest, AssignOrReturnPropagates) {
  Result<int> good = doubled(21);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 42);
  Result<int> bad = doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "not positive: -1");
}

TEST(ResultTest, ReturnIfErrorStopsAtFirstFailure) {
  EXPECT_TRUE(checkBoth(1, 2).ok());
  EXPECT_EQ(checkBoth(0, -1).message(), "not positive: 0");
  EXPECT_EQ(checkBoth(1, -1).message(), "not positive: -1");
}

}  // namespace
}  // namespace pkgxfer
