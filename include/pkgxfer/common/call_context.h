#pragma once

// CallContext: how long a blocking call to something remote (a DP over a file system, SMB or
// HTTP) may take, and how to stop it early. Every Transport call and every HTTP client call takes
// one, so a service that stops, a job that is cancelled or a schedule window that closes reaches a
// call that hangs instead of waiting for it.
//
// The deadline is real (steady_clock) time, not an injected Clock: it bounds waits on sockets and
// servers, which a FakeClock cannot speed up. Cheap to copy; thread-safe as a value (the
// stop_token itself is thread-safe).

#include <chrono>
#include <stop_token>
#include <string>
#include <string_view>

#include "pkgxfer/common/status.h"

namespace pkgxfer {

struct CallContext {
  using TimePoint = std::chrono::steady_clock::time_point;

  // A stop request ends the call with Cancelled at its next wait (or at once, for a socket: the
  // implementation registers a std::stop_callback that closes it). Default: cannot be stopped.
  std::stop_token stop;
  // Past it the call ends with Unavailable ("... timed out"). Default: none.
  TimePoint deadline = TimePoint::max();

  // A context that stops when `stop` does and ends `timeout` from now at the latest (or at this
  // context's own deadline, if earlier).
  CallContext within(std::chrono::steady_clock::duration timeout) const {
    CallContext c = *this;
    const auto now = std::chrono::steady_clock::now();
    if (deadline - now > timeout) c.deadline = now + timeout;
    return c;
  }

  bool stopRequested() const { return stop.stop_requested(); }
  // Neither stopped nor past the deadline: the cheap test before building check()'s message.
  bool live() const { return !stopRequested() && !expired(); }
  bool expired() const { return std::chrono::steady_clock::now() >= deadline; }
  // Time left until the deadline (zero once passed; a very large value without a deadline).
  std::chrono::steady_clock::duration remaining() const {
    const auto now = std::chrono::steady_clock::now();
    return now >= deadline ? std::chrono::steady_clock::duration::zero() : deadline - now;
  }

  // OK while the call may go on; otherwise Cancelled ("<what>: stopped") or Unavailable
  // ("<what>: timed out"), for the point between two steps of a call.
  Status check(std::string_view what) const {
    if (stopRequested()) return Status::Cancelled(std::string(what) + ": stopped");
    if (expired()) return Status::Unavailable(std::string(what) + ": timed out");
    return Status::Ok();
  }
  // A context that cannot be stopped and ends `timeout` from now: for a short step a caller must
  // still finish after a stop (a job keeping what it sent).
  static CallContext finishing(std::chrono::steady_clock::duration timeout) {
    CallContext c;
    c.deadline = std::chrono::steady_clock::now() + timeout;
    return c;
  }
};

}  // namespace pkgxfer
