// Windows side of the service: the same pkgxferd.exe runs under the Service Control Manager or,
// when started from a console, as a console program (StartServiceCtrlDispatcher fails with
// ERROR_FAILED_SERVICE_CONTROLLER_CONNECT). The control handler only posts the stop request and
// returns at once; SERVICE_RUNNING is reported only after the components started.
//
// Compiled only on Windows (src/platform/CMakeLists.txt).

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "pkgxfer/common/os_error.h"
#include "pkgxfer/platform/service.h"
#include "signal_registration.h"
#include "win32_text.h"

namespace pkgxfer::platform {
namespace {

std::string lastErrorText(DWORD code) { return systemErrorText(static_cast<int>(code)); }

// A command-line argument quoted as CommandLineToArgvW reads it back: inside quotes, backslashes
// are literal except before a quote, where each pair is one backslash.
std::wstring quoted(const std::wstring& arg) {
  std::wstring out = L"\"";
  std::size_t backslashes = 0;
  for (wchar_t c : arg) {
    if (c == L'\\') {
      ++backslashes;
      continue;
    }
    out.append(c == L'"' ? backslashes * 2 + 1 : backslashes, L'\\');
    backslashes = 0;
    out += c;
  }
  out.append(backslashes * 2, L'\\');
  out += L'"';
  return out;
}

// The SCM side: state reporting and a control handler that posts the stop.
class ScmControl final : public ServiceControl {
 public:
  explicit ScmControl(SERVICE_STATUS_HANDLE handle) : handle_(handle) {
    status_.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    status_.dwCurrentState = SERVICE_START_PENDING;
    status_.dwWaitHint = 30000;
    SetServiceStatus(handle_, &status_);
  }

  std::unique_ptr<StopRegistration> onStopRequest(
      boost::asio::io_context& io, std::function<void(std::string)> on_stop) override {
    std::lock_guard lock(mutex_);
    io_ = &io;
    on_stop_ = std::move(on_stop);
    return std::make_unique<Registration>(this);
  }

  // Runs on the SCM's dispatcher thread: post and return immediately.
  void control(DWORD code) {
    if (code != SERVICE_CONTROL_STOP && code != SERVICE_CONTROL_SHUTDOWN) return;
    std::lock_guard lock(mutex_);
    if (io_ && on_stop_ && !stop_posted_) {
      stop_posted_ = true;
      const char* reason = code == SERVICE_CONTROL_STOP ? "service stop" : "system shutdown";
      boost::asio::post(*io_, [fn = on_stop_, reason] { fn(reason); });
    }
  }

  void reportRunning() override {
    std::lock_guard lock(status_mutex_);
    status_.dwCurrentState = SERVICE_RUNNING;
    status_.dwControlsAccepted = SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN;
    status_.dwWaitHint = 0;
    SetServiceStatus(handle_, &status_);
  }
  // STOP_PENDING, then a new checkpoint every 2 s while the components stop (the body blocks in
  // stopAll meanwhile), each with a wait hint of what is left of `grace` plus 5 s: the SCM and
  // `sc query` see a stop that progresses, and one that overran shows as such.
  void reportStopping(std::chrono::milliseconds grace) override {
    const auto deadline = std::chrono::steady_clock::now() + grace + std::chrono::seconds(5);
    auto report = [this, deadline] {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      status_.dwCurrentState = SERVICE_STOP_PENDING;
      status_.dwControlsAccepted = 0;
      status_.dwWaitHint = static_cast<DWORD>(std::max<std::int64_t>(left.count(), 5000));
      ++status_.dwCheckPoint;
      SetServiceStatus(handle_, &status_);
    };
    std::unique_lock lock(status_mutex_);
    if (status_.dwCurrentState == SERVICE_STOP_PENDING) return;
    report();
    lock.unlock();
    checkpoints_ = std::thread([this, report] {
      std::unique_lock lock(status_mutex_);
      while (!status_cv_.wait_for(lock, std::chrono::seconds(2), [this] { return stopped_; })) {
        report();
      }
    });
  }
  void reportStopped(int exit_code) {
    {
      std::lock_guard lock(status_mutex_);
      stopped_ = true;
    }
    status_cv_.notify_all();
    if (checkpoints_.joinable()) checkpoints_.join();
    std::lock_guard lock(status_mutex_);
    status_.dwCurrentState = SERVICE_STOPPED;
    status_.dwControlsAccepted = 0;
    status_.dwCheckPoint = 0;
    status_.dwWaitHint = 0;
    status_.dwWin32ExitCode = exit_code == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
    status_.dwServiceSpecificExitCode = static_cast<DWORD>(exit_code);
    SetServiceStatus(handle_, &status_);
  }
  bool isService() const override { return true; }

 private:
  struct Registration final : StopRegistration {
    explicit Registration(ScmControl* owner) : owner_(owner) {}
    ~Registration() override {
      std::lock_guard lock(owner_->mutex_);
      owner_->io_ = nullptr;
      owner_->on_stop_ = nullptr;
    }
    ScmControl* owner_;
  };

  SERVICE_STATUS_HANDLE handle_;
  // status_ is reported from the body's thread and, while stopping, from checkpoints_.
  std::mutex status_mutex_;
  std::condition_variable status_cv_;
  bool stopped_ = false;  // guarded by status_mutex_
  std::thread checkpoints_;
  SERVICE_STATUS status_{};
  std::mutex mutex_;
  boost::asio::io_context* io_ = nullptr;
  std::function<void(std::string)> on_stop_;
  bool stop_posted_ = false;
};

// The dispatcher calls ServiceMain with no user pointer, so these are process-wide by necessity.
std::wstring g_service_name;
const ServiceBody* g_body = nullptr;
// Read by the handler on the dispatcher thread, written by the service thread.
std::atomic<ScmControl*> g_control{nullptr};
std::atomic<int> g_exit_code{0};

// Runs on the dispatcher (main) thread.
DWORD WINAPI controlHandler(DWORD code, DWORD, LPVOID, LPVOID) {
  switch (code) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
      if (ScmControl* c = g_control.load()) c->control(code);
      return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
      return NO_ERROR;  // the SCM answers from the last status reported
    default:
      return ERROR_CALL_NOT_IMPLEMENTED;
  }
}

void WINAPI serviceMain(DWORD, LPWSTR*) {
  SERVICE_STATUS_HANDLE handle =
      RegisterServiceCtrlHandlerExW(g_service_name.c_str(), controlHandler, nullptr);
  if (!handle) return;
  // Never destroyed: the handler may still be inside control() on the dispatcher thread when the
  // body returns, and the process ends soon after anyway.
  auto* control = new ScmControl(handle);
  g_control = control;
  const int code = (*g_body)(*control);
  g_exit_code = code;
  g_control = nullptr;
  control->reportStopped(code);
}

}  // namespace

void deferStopSignals() {}

int runService(const std::string& service_name, const ServiceBody& body) {
  g_service_name = toUtf16(service_name);
  g_body = &body;
  SERVICE_TABLE_ENTRYW table[] = {{g_service_name.data(), serviceMain}, {nullptr, nullptr}};
  if (StartServiceCtrlDispatcherW(table)) return g_exit_code;
  if (GetLastError() != ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) return 1;
  ConsoleControl control;  // started from a console, not by the SCM
  return body(control);
}

Status installService(const std::string& service_name, const std::filesystem::path& exe,
                      const std::vector<std::string>& args) {
  std::wstring command = quoted(exe.native());
  for (const auto& a : args) command += L" " + quoted(toUtf16(a));
  SC_HANDLE scm = OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CREATE_SERVICE);
  if (!scm) return Status::PermissionDenied("OpenSCManager: " + lastErrorText(GetLastError()));
  const std::wstring name = toUtf16(service_name);
  SC_HANDLE service =
      CreateServiceW(scm, name.c_str(), L"pkgxfer content distribution service", SERVICE_ALL_ACCESS,
                     SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL,
                     command.c_str(), nullptr, nullptr, nullptr, nullptr, nullptr);
  if (!service) {
    DWORD err = GetLastError();
    CloseServiceHandle(scm);
    return err == ERROR_SERVICE_EXISTS
               ? Status::AlreadyExists("service " + service_name + " is already installed")
               : Status::IoError("CreateService " + service_name + ": " + lastErrorText(err));
  }
  // Restart after 5 s on the first two failures, as SMS_Executive's recovery settings do.
  SC_ACTION actions[3] = {
      {SC_ACTION_RESTART, 5000}, {SC_ACTION_RESTART, 5000}, {SC_ACTION_NONE, 0}};
  SERVICE_FAILURE_ACTIONSW failure{};
  failure.dwResetPeriod = 86400;
  failure.cActions = 3;
  failure.lpsaActions = actions;
  ChangeServiceConfig2W(service, SERVICE_CONFIG_FAILURE_ACTIONS, &failure);
  std::wstring text =
      L"Distributes ConfigMgr-style content packages to distribution points (pkgxfer).";
  SERVICE_DESCRIPTIONW description{text.data()};
  ChangeServiceConfig2W(service, SERVICE_CONFIG_DESCRIPTION, &description);
  CloseServiceHandle(service);
  CloseServiceHandle(scm);
  return Status::Ok();
}

Status uninstallService(const std::string& service_name) {
  SC_HANDLE scm = OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT);
  if (!scm) return Status::PermissionDenied("OpenSCManager: " + lastErrorText(GetLastError()));
  SC_HANDLE service = OpenServiceW(scm, toUtf16(service_name).c_str(),
                                   SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE);
  if (!service) {
    DWORD err = GetLastError();
    CloseServiceHandle(scm);
    return err == ERROR_SERVICE_DOES_NOT_EXIST
               ? Status::NotFound("service " + service_name + " is not installed")
               : Status::IoError("OpenService " + service_name + ": " + lastErrorText(err));
  }
  // Stop it first and wait (up to its 25 s grace and a little) so the registration is gone when
  // this returns: a service deleted while running stays "marked for delete" and blocks a reinstall.
  SERVICE_STATUS status{};
  if (ControlService(service, SERVICE_CONTROL_STOP, &status)) {
    for (int i = 0; i < 300 && status.dwCurrentState != SERVICE_STOPPED; ++i) {
      Sleep(100);
      if (!QueryServiceStatus(service, &status)) break;
    }
  }
  BOOL deleted = DeleteService(service);
  DWORD err = GetLastError();
  CloseServiceHandle(service);
  CloseServiceHandle(scm);
  if (!deleted) return Status::IoError("DeleteService " + service_name + ": " + lastErrorText(err));
  return Status::Ok();
}

}  // namespace pkgxfer::platform
