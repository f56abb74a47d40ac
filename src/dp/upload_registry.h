#pragma once

// UploadRegistry: what a DP holds between the requests of one site's send (docs/http-api.md):
// the uploads in progress (a resumable upload receives its bytes over several PUTs; a small body
// staged by one PUT waits for its install) and the sends whose bodies are pinned under a lease.
//
// Nothing here must survive a restart: an upload's temporary file is on disk under the name the
// site keeps (the upload's id), so after a restart the site re-opens it at its durable offset; a
// staged small body is lost with its process (its file is deleted) and sent again; a send's pins
// go, and the manifest commit names any body a removal took meanwhile.
//
// Thread-safe: handlers on several pool threads use it at once. An upload is used by one request
// at a time (Held locks it); the registry's own lock is never held while a request waits on its
// socket.

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pkgxfer/common/clock.h"
#include "pkgxfer/common/status.h"
#include "pkgxfer/content/content_library.h"

namespace pkgxfer::dp {

class UploadRegistry {
 public:
  struct Options {
    // An upload no request touched for this long is closed (its temporary file kept: the site
    // resumes it by name later). Default 10 min.
    std::chrono::milliseconds upload_idle_timeout{std::chrono::minutes(10)};
    // How long a send's pins hold without a renewal (POST /v1/sends/{id}/renew). Default 10 min.
    std::chrono::milliseconds send_lease{std::chrono::minutes(10)};
    // Uploads open at once (each holds a file descriptor). Beyond it, opening one is Unavailable.
    // Default 1024.
    std::size_t max_uploads = 1024;
    // Sends open at once. Default 1024.
    std::size_t max_sends = 1024;
  };

  UploadRegistry(content::ContentLibrary& library, Clock& clock, Options options);
  ~UploadRegistry();

  struct Entry;
  // One upload, checked out by one request: locked until destroyed. Movable.
  class Held {
   public:
    Held(Held&&) noexcept;
    Held& operator=(Held&&) = delete;
    ~Held();
    content::Upload& upload() const;
    std::uint64_t size() const;
    const std::string& owner() const;
    // Takes the upload out of the registry (installed, failed, aborted): its id is unknown from
    // now on. The Upload object is destroyed with this Held.
    void release();

   private:
    friend class UploadRegistry;
    Held(UploadRegistry& registry, std::shared_ptr<Entry> entry);
    UploadRegistry* registry_;
    std::shared_ptr<Entry> entry_;
    std::unique_lock<std::mutex> lock_;
    bool release_ = false;
  };

  // Registers an open upload under its temporary name, which becomes its id. An upload already
  // registered under that name is replaced (closed). Unavailable if max_uploads are open.
  Result<std::string> add(std::unique_ptr<content::Upload> upload, std::uint64_t size,
                          std::string owner);
  // Checks out an upload for a request, waiting while another request uses it. NotFound if no
  // upload has that id.
  Result<Held> take(std::string_view id);
  // Closes the upload with that id, if registered (a resumable one keeps its file), waiting for a
  // request that uses it. True if there was one.
  bool close(std::string_view id);
  // Closes every upload of `owner` for these bodies (their files are about to be discarded).
  void closeOwned(std::string_view owner, const std::vector<std::string>& sha256s);

  // A send: pins `sha256s` until ended or its lease runs out. Returns its id. Unavailable if
  // max_sends are open.
  Result<std::string> beginSend(std::vector<std::string> sha256s);
  // Renews a send's lease; NotFound if it is unknown (ended, expired).
  Status renewSend(std::string_view id);
  // Ends a send (its pins go). OK if unknown.
  void endSend(std::string_view id);
  std::chrono::milliseconds sendLease() const { return options_.send_lease; }

  // Closes uploads idle past their timeout and ends sends whose lease ran out: a pass over the
  // open ones. Called by the service before each request that could meet either; `force` false
  // (the hot paths: opening and staging uploads) skips it when the last pass was less than a
  // twentieth of the shorter timeout ago (30 s by default), so a batch of thousands of staged
  // bodies does not pay a pass per body. Removals force it: an expired send must not pin.
  void sweep(bool force = true);

  std::size_t uploads() const;
  std::size_t sends() const;

 private:
  struct Send {
    content::BodyPins pins;
    Clock::SteadyTime expires;
  };

  content::ContentLibrary& library_;
  Clock& clock_;
  const Options options_;

  mutable std::mutex mu_;
  Clock::SteadyTime last_sweep_{};                                   // guarded by mu_
  std::unordered_map<std::string, std::shared_ptr<Entry>> uploads_;  // by id; guarded by mu_
  std::unordered_map<std::string, Send> sends_;                      // by id; guarded by mu_
};

}  // namespace pkgxfer::dp
