#include "pkgxfer/host/signals.h"

#include <utility>
#include <vector>

namespace pkgxfer::host {

std::uint64_t Signals::subscribe(Topic topic, std::function<void()> wake) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::uint64_t id = ++next_id_;
  subscribers_.emplace(id, Subscription{topic, std::move(wake)});
  return id;
}

void Signals::unsubscribe(std::uint64_t id) {
  std::lock_guard<std::mutex> in_flight(notify_mu_);  // a notify() that copied it has ended
  std::lock_guard<std::mutex> lock(mu_);
  subscribers_.erase(id);
}

void Signals::notify(Topic topic) {
  std::lock_guard<std::mutex> one_at_a_time(notify_mu_);
  std::vector<std::function<void()>> wakes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, s] : subscribers_) {
      if (s.topic == topic) wakes.push_back(s.wake);
    }
  }
  for (const auto& wake : wakes) wake();
}

}  // namespace pkgxfer::host
