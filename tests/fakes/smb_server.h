#pragma once

// A real Samba server for the SMB tests: scripts/smbd.sh runs a private smbd on 127.0.0.1 at a
// free port, with its shares in a temporary folder and a test user with a password. No stub: the
// SMB file system, transport and end-to-end tests talk to this smbd.
//
// smbd needs root. As root (CI runs the tests as root, after scripts/install-deps.sh installed
// Samba) a server that does not start fails the test; as another user the SMB tests are skipped,
// saying why (smbdUnavailableReason()).

#include <filesystem>
#include <string>
#include <vector>

#include "fakes/test_util.h"

namespace pkgxfer::testing {

// Why this process cannot run a private smbd ("" if it can).
std::string smbdUnavailableReason();

class SmbServer {
 public:
  static constexpr const char* kUser = "pkgxfer";
  static constexpr const char* kPassword = "s3cret-smb-test-pw";

  // Starts smbd with these shares (one folder each under the server's temporary folder). Check
  // started() (a failed start adds a test failure).
  explicit SmbServer(std::vector<std::string> shares = {"share"});
  ~SmbServer();  // stops it
  SmbServer(const SmbServer&) = delete;
  SmbServer& operator=(const SmbServer&) = delete;

  bool started() const { return started_; }
  int port() const { return port_; }
  // The local folder behind a share, to check what arrived.
  std::filesystem::path shareDir(const std::string& share) const;
  // smb://127.0.0.1:PORT/SHARE[/path]
  std::string url(const std::string& share, const std::string& path = "") const;

  // Stops smbd and every connection it served, and waits until they are gone: a client's
  // connection is dropped when this returns. start() brings it back on the same port and shares.
  void stop();
  bool start();
  // Runs smbclient as the test user against `share` with these arguments (e.g. {"-c", "ls"}).
  RunResult smbclient(const std::string& share, const std::vector<std::string>& args) const;

 private:
  RunResult script(const std::vector<std::string>& args) const;

  TempDir dir_;
  std::vector<std::string> shares_;
  int port_ = 0;
  bool started_ = false;
};

}  // namespace pkgxfer::testing
