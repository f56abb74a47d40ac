#pragma once

// In-process wake-ups between the components of one pkgxferd. The site database stays the only
// hand-off of work (a job is a row); a signal only says "read it now". distmgr signals
// TransferJobs when it created, superseded or cancelled a job, so pkgxfermgr reacts at once
// without polling the database every few tens of milliseconds, and an idle site costs next to
// nothing. Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

namespace pkgxfer::host {

class Signals {
 public:
  enum class Topic {
    TransferJobs,    // transfer_jobs rows were created or changed state (by distmgr)
    StatusMessages,  // status messages from pull DPs were recorded (statusreceiver, pkgxfermgr)
  };

  // `wake` runs on the thread that calls notify(), without locks held: it should only post work to
  // its component's strand (e.g. host::PollTimer::wakeNow). Returns an id for unsubscribe().
  std::uint64_t subscribe(Topic topic, std::function<void()> wake);
  // After it returns, `wake` of that subscription is not called again.
  void unsubscribe(std::uint64_t id);
  void notify(Topic topic);

 private:
  struct Subscription {
    Topic topic;
    std::function<void()> wake;
  };
  std::mutex mu_;
  std::uint64_t next_id_ = 0;                          // guarded by mu_
  std::map<std::uint64_t, Subscription> subscribers_;  // guarded by mu_
  // notify() calls run one at a time, so unsubscribe() can wait for one in flight to end.
  std::mutex notify_mu_;
};

}  // namespace pkgxfer::host
