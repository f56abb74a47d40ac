#pragma once

// Helpers shared by every test executable. Tests are hermetic: each gets its own temp directory,
// servers bind port 0 on 127.0.0.1, and nothing sleeps to wait for something: waitFor() polls a
// condition until a deadline.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace pkgxfer::testing {

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

// Polls `condition` every millisecond or so until it is true (returns true) or `timeout` passes
// (returns false).
bool waitFor(const std::function<bool()>& condition,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

void writeFile(const std::filesystem::path& file, const std::string& content);
std::string readFile(const std::filesystem::path& file);
std::vector<std::string> readLines(const std::filesystem::path& file);

// Where the built pkgxferd and pkgxfer live ($PKGXFER_BIN_DIR, else the build's bin/).
std::filesystem::path binDir();
// The repository root ($PKGXFER_SOURCE_DIR, else the source tree this was built from).
std::filesystem::path sourceDir();

// A TCP port on 127.0.0.1 nothing listens on right now (bound to port 0, then released), for a
// server a test starts in another process with a fixed port in its config. Another process may
// take it first; 0 if no socket could be had.
std::uint16_t freePort();

// The result of running a program to completion.
struct RunResult {
  int exit_code = -1;  // -1 if it did not exit normally
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs `argv` (argv[0] is a path) with extra environment entries "K=V", capturing output.
// Kills it and fails the current test if it does not finish within `timeout`.
RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace pkgxfer::testing

namespace pkgxfer::testing {

// A child process running in the background (e.g. a real pkgxferd), its stdout and stderr going to
// files. The destructor kills it (SIGKILL) if it still runs.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::filesystem::path& output_dir,
          const std::vector<std::string>& env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  int pid() const { return pid_; }
  void signal(int signo);
  // Waits for exit; returns the exit code, 128+signal if killed, or -1 if still running at the
  // deadline.
  int wait(std::chrono::milliseconds timeout);
  bool running();
  std::string out() const;
  std::string err() const;

 private:
  int pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
  std::filesystem::path out_file_;
  std::filesystem::path err_file_;
};

}  // namespace pkgxfer::testing
