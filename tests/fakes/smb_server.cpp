#include "fakes/smb_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace pkgxfer::testing {
namespace {

std::filesystem::path scriptPath() { return sourceDir() / "scripts" / "smbd.sh"; }

}  // namespace

std::string smbdUnavailableReason() {
  if (::geteuid() != 0) return "smbd needs root (the SMB tests run against a real smbd)";
  return "";
}

SmbServer::SmbServer(std::vector<std::string> shares) : shares_(std::move(shares)) {
  if (!smbdUnavailableReason().empty()) return;
  for (int attempt = 0; attempt < 5 && !started_; ++attempt) {
    port_ = freePort();
    started_ = start();
  }
}

SmbServer::~SmbServer() {
  if (port_ != 0) stop();
}

RunResult SmbServer::script(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"/bin/bash", scriptPath().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, {}, std::chrono::seconds(30));
}

bool SmbServer::start() {
  std::vector<std::string> args = {"start",
                                   "--dir",
                                   (dir_.path() / "smb").string(),
                                   "--port",
                                   std::to_string(port_),
                                   "--user",
                                   kUser,
                                   "--password",
                                   kPassword};
  for (const std::string& s : shares_) {
    args.push_back("--share");
    args.push_back(s);
  }
  RunResult r = script(args);
  if (r.exit_code != 0) {
    ADD_FAILURE() << "scripts/smbd.sh start failed (" << r.exit_code << "): " << r.err << r.out;
    return false;
  }
  return true;
}

void SmbServer::stop() {
  RunResult r = script({"stop", "--dir", (dir_.path() / "smb").string()});
  EXPECT_EQ(r.exit_code, 0) << "scripts/smbd.sh stop: " << r.err << r.out;
}

std::filesystem::path SmbServer::shareDir(const std::string& share) const {
  return dir_.path() / "smb" / "shares" / share;
}

std::string SmbServer::url(const std::string& share, const std::string& path) const {
  return "smb://127.0.0.1:" + std::to_string(port_) + "/" + share + path;
}

RunResult SmbServer::smbclient(const std::string& share,
                               const std::vector<std::string>& args) const {
  std::vector<std::string> a = {"smbclient", "--dir", (dir_.path() / "smb").string(), share, "--"};
  a.insert(a.end(), args.begin(), args.end());
  return script(a);
}

}  // namespace pkgxfer::testing
