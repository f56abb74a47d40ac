// makeTransport for smb:// DPs against a real smbd: the file transport over the share.

#include <gtest/gtest.h>
#include <stdlib.h>

#include "fakes/smb_server.h"
#include "pkgxfer/transport/transport.h"

namespace pkgxfer::transport {
namespace {

using pkgxfer::testing::SmbServer;

class SmbTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = pkgxfer::testing::smbdUnavailableReason(); !why.empty()) {
      GTEST_SKIP() << why;
    }
    server_ = std::make_unique<SmbServer>(std::vector<std::string>{"dp"});
    ASSERT_TRUE(server_->started());
    std::filesystem::create_directories(server_->shareDir("dp") / "lib");
    ::setenv("PKGXFER_SMB_TRANSPORT_TEST_PW", SmbServer::kPassword, 1);
  }

  config::DistributionPointConfig dp(const std::string& share, const std::string& path,
                                     const std::string& env = "PKGXFER_SMB_TRANSPORT_TEST_PW") {
    config::DistributionPointConfig d;
    d.name = "smb01";
    d.address = server_->url(share, path);
    d.location =
        config::SmbAddress{"127.0.0.1", static_cast<std::uint16_t>(server_->port()), share, path};
    d.credentials = config::Credentials{SmbServer::kUser, "", env};
    return d;
  }

  std::unique_ptr<SmbServer> server_;
};

TEST_F(SmbTransportTest, ProbesAndInitialisesTheLibraryOnTheShare) {
  auto t = makeTransport(dp("dp", "/lib"), TransportOptions{true, "PS1", {}});
  ASSERT_TRUE(t.ok()) << t.status().toString();
  EXPECT_EQ((*t)->describe(), server_->url("dp", "/lib"));
  auto probe = (*t)->probe({});
  ASSERT_TRUE(probe.ok()) << probe.status().toString();
  EXPECT_EQ(probe->location, server_->url("dp", "/lib"));
  EXPECT_GT(probe->free_bytes, 0u);
  for (const char* sub : {"FileLib", "DataLib", "PkgLib", "pkgxfer-library.json"}) {
    EXPECT_TRUE(std::filesystem::exists(server_->shareDir("dp") / "lib" / sub)) << sub;
  }
}

TEST_F(SmbTransportTest, ErrorsCarryTheirCause) {
  auto missing_path = makeTransport(dp("dp", "/nope"));
  ASSERT_TRUE(missing_path.ok());
  auto probe = (*missing_path)->probe({});
  EXPECT_EQ(probe.status().code(), Status::Code::NotFound) << probe.status().toString();

  ::setenv("PKGXFER_SMB_TRANSPORT_TEST_WRONG", "wrong", 1);
  auto wrong = makeTransport(dp("dp", "/lib", "PKGXFER_SMB_TRANSPORT_TEST_WRONG"));
  ASSERT_TRUE(wrong.ok());
  probe = (*wrong)->probe({});
  EXPECT_EQ(probe.status().code(), Status::Code::PermissionDenied) << probe.status().toString();
  EXPECT_NE(probe.status().message().find("refused the logon"), std::string::npos);

  server_->stop();
  auto down = makeTransport(dp("dp", "/lib"));
  ASSERT_TRUE(down.ok());
  probe = (*down)->probe({});
  EXPECT_EQ(probe.status().code(), Status::Code::Unavailable) << probe.status().toString();
}

TEST_F(SmbTransportTest, APasswordVariableThatIsNotSetIsAConfigurationError) {
  ::unsetenv("PKGXFER_SMB_TRANSPORT_TEST_UNSET");
  auto t = makeTransport(dp("dp", "/lib", "PKGXFER_SMB_TRANSPORT_TEST_UNSET"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Status::Code::InvalidArgument);
  EXPECT_NE(t.status().message().find("PKGXFER_SMB_TRANSPORT_TEST_UNSET"), std::string::npos);
}

}  // namespace
}  // namespace pkgxfer::transport
