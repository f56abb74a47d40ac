#include "pkgxfer/transport/unc_path.h"

#include <gtest/gtest.h>

namespace pkgxfer::transport {
namespace {

TEST(UncPathTest, MapsAnSmbAddressToItsUncPath) {
  EXPECT_EQ(*uncPath({"fs02", 0, "ContentLib", ""}), R"(\\fs02\ContentLib)");
  EXPECT_EQ(*uncPath({"fs02.contoso.com", 445, "Share$", "/sms/dp01"}),
            R"(\\fs02.contoso.com\Share$\sms\dp01)");
  EXPECT_EQ(*uncPath({"10.0.0.5", 0, "lib", "/a b/c"}), R"(\\10.0.0.5\lib\a b\c)");
  EXPECT_EQ(*uncPath({"fe80::1", 0, "lib", ""}), R"(\\fe80--1.ipv6-literal.net\lib)");
}

TEST(UncPathTest, APortOtherThan445CannotBeNamed) {
  auto r = uncPath({"fs02", 4455, "lib", "/x"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::InvalidArgument);
  EXPECT_NE(r.status().message().find("smb://fs02:4455/lib: a UNC path cannot name a port"),
            std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace pkgxfer::transport
