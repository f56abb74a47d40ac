// The libsmbclient file system (see smb_file_system.h for the threading, error and durability
// contracts). Every libsmbclient call goes through one context's function table, under that
// context's lock.

#include "pkgxfer/fs/smb_file_system.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <libsmbclient.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "pkgxfer/common/os_error.h"
#include "pkgxfer/common/text.h"

namespace pkgxfer::fs {
namespace {

// ---- process-wide set-up ------------------------------------------------------------------------

// Samba's thread interface (lib/util/smb_threads.h, exported by libsamba-util, which libsmbclient
// loads): what smbc_thread_posix() installs. Debian's libsmbclient 4.17 declares that function but
// does not export it, so the same functions are installed here, found at run time.
struct SmbThreadFunctions {
  int (*create_mutex)(const char* lockname, void** pplock, const char* location);
  void (*destroy_mutex)(void* plock, const char* location);
  int (*lock_mutex)(void* plock, int lock_type, const char* location);
  int (*create_tls)(const char* keyname, void** ppkey, const char* location);
  void (*destroy_tls)(void** pkey, const char* location);
  int (*set_tls)(void* pkey, const void* pval, const char* location);
  void* (*get_tls)(void* pkey, const char* location);
};
constexpr int kSmbThreadLock = 1;  // enum smb_thread_lock_type: LOCK = 1, UNLOCK = 2

int createMutex(const char*, void** pplock, const char*) {
  auto* m = new pthread_mutex_t;
  if (int rc = pthread_mutex_init(m, nullptr); rc != 0) {
    delete m;
    return rc;
  }
  *pplock = m;
  return 0;
}
void destroyMutex(void* plock, const char*) {
  auto* m = static_cast<pthread_mutex_t*>(plock);
  pthread_mutex_destroy(m);
  delete m;
}
int lockMutex(void* plock, int lock_type, const char*) {
  auto* m = static_cast<pthread_mutex_t*>(plock);
  return lock_type == kSmbThreadLock ? pthread_mutex_lock(m) : pthread_mutex_unlock(m);
}
std::mutex g_tls_mu;
int createTls(const char*, void** ppkey, const char*) {
  std::lock_guard<std::mutex> lock(g_tls_mu);
  if (*ppkey != nullptr) return 0;
  auto* key = new pthread_key_t;
  if (int rc = pthread_key_create(key, nullptr); rc != 0) {
    delete key;
    return rc;
  }
  *ppkey = key;
  return 0;
}
void destroyTls(void** pkey, const char*) {
  std::lock_guard<std::mutex> lock(g_tls_mu);
  if (*pkey == nullptr) return;
  auto* key = static_cast<pthread_key_t*>(*pkey);
  pthread_key_delete(*key);
  delete key;
  *pkey = nullptr;
}
// Samba asks for a value before it made the key (talloc_stackframe_exists): none yet.
int setTls(void* pkey, const void* pval, const char*) {
  if (pkey == nullptr) return EINVAL;
  return pthread_setspecific(*static_cast<pthread_key_t*>(pkey), pval);
}
void* getTls(void* pkey, const char*) {
  if (pkey == nullptr) return nullptr;
  return pthread_getspecific(*static_cast<pthread_key_t*>(pkey));
}
const SmbThreadFunctions kThreadFunctions = {createMutex, destroyMutex, lockMutex, createTls,
                                             destroyTls,  setTls,       getTls};

// What libsmbclient logged on this thread during the current call that says why it failed
// ("SPNEGO login failed: The attempted logon is invalid. ..."): the server's answer, which errno
// alone (EACCES) does not carry.
thread_local std::string t_failure;

void logCallback(void*, int level, const char* msg) {
  if (level > 3 || msg == nullptr) return;
  std::string_view m(msg);
  if (m.find("failed") == std::string_view::npos) return;
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.remove_suffix(1);
  t_failure = displayBytes(m);
}

struct Library {
  // Contexts are made and freed one at a time (libsmbclient's configuration is global).
  std::mutex create_mu;
  // Held around every call when Samba's thread-local storage could not be installed: then the
  // library is safe for one thread at a time only.
  bool serialize_calls = false;
  std::mutex call_mu;
};

Library& library() {
  static Library* lib = [] {
    auto* l = new Library();  // never destroyed: contexts may be freed at exit
    using SetFunctions = int (*)(const SmbThreadFunctions*);
    auto set = reinterpret_cast<SetFunctions>(::dlsym(RTLD_DEFAULT, "smb_thread_set_functions"));
    l->serialize_calls = set == nullptr || set(&kThreadFunctions) != 0;
    // The protocol range (SMB2.02..SMB3) is process-wide in libsmbclient: set once, through a
    // context that is never initialised, before any connection, and the log callback with it
    // (libsmbclient's messages go nowhere else, never to stdout).
    SMBCCTX* ctx = smbc_new_context();
    if (ctx != nullptr) {
      smbc_setLogCallback(ctx, nullptr, logCallback);
      smbc_setOptionProtocols(ctx, "SMB2_02", "SMB3");
      smbc_free_context(ctx, 0);
    }
    return l;
  }();
  return *lib;
}

// Locks within the process (see the header): names held by File::tryLock() and lockDirectory().
struct LockTable {
  std::mutex mu;
  std::condition_variable cv;
  std::unordered_set<std::string> held;
};
LockTable& locks() {
  static LockTable* table = new LockTable();
  return *table;
}
bool tryHold(const std::string& key) {
  LockTable& t = locks();
  std::lock_guard<std::mutex> lock(t.mu);
  return t.held.insert(key).second;
}
void holdWaiting(const std::string& key) {
  LockTable& t = locks();
  std::unique_lock<std::mutex> lock(t.mu);
  t.cv.wait(lock, [&] { return t.held.count(key) == 0; });
  t.held.insert(key);
}
void release(const std::string& key) {
  LockTable& t = locks();
  {
    std::lock_guard<std::mutex> lock(t.mu);
    t.held.erase(key);
  }
  t.cv.notify_all();
}

// ---- URLs -------------------------------------------------------------------------------------

// Percent-encodes all but unreserved characters and '/': libsmbclient decodes %XX in the path.
std::string encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string hostPart(const SmbShareOptions& s) {
  std::string out = s.host.find(':') != std::string::npos ? "[" + s.host + "]" : s.host;
  if (s.port != 0) out += ":" + std::to_string(s.port);
  return out;
}

// The path inside the share, absolute, '/'-separated, without a trailing '/' ("" for the root).
std::string sharePath(const Path& path) {
  std::string p = path.lexically_normal().generic_string();
  if (p.empty() || p.front() != '/') p.insert(p.begin(), '/');
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p == "/") p.clear();
  return p;
}

FileType typeOf(mode_t mode) {
  if (S_ISREG(mode)) return FileType::Regular;
  if (S_ISDIR(mode)) return FileType::Directory;
  if (S_ISLNK(mode)) return FileType::Symlink;
  return FileType::Unknown;
}

FileInfo infoOf(const struct stat& st) {
  FileInfo info;
  info.type = typeOf(st.st_mode);
  info.size = static_cast<std::uint64_t>(st.st_size);
  info.mtime_ns = std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  info.ctime_ns = std::int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
  info.mode = static_cast<std::uint32_t>(st.st_mode & 07777);
  info.volume = static_cast<std::uint64_t>(st.st_dev);
  info.id = static_cast<std::uint64_t>(st.st_ino);
  return info;
}

// ---- contexts ---------------------------------------------------------------------------------

struct Share {
  SmbShareOptions options;
  std::string url;      // smb://host[:port]/share, encoded
  std::string display;  // smb://host[:port]/share, printable
  std::string who;      // DOMAIN\user, for messages
};

// One libsmbclient context: its connection to the server and the files opened through it.
class Connection {
 public:
  explicit Connection(std::shared_ptr<const Share> share) : share_(std::move(share)) {}
  ~Connection() {
    if (ctx_ == nullptr) return;
    std::lock_guard<std::mutex> lock(library().create_mu);
    smbc_free_context(ctx_, 1);  // closes what is still open and the connection
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Status init() {
    std::lock_guard<std::mutex> lock(library().create_mu);
    SMBCCTX* ctx = smbc_new_context();
    if (ctx == nullptr) return errnoStatus("create an SMB context for", share_->display, errno);
    // Level 3 makes a refused logon's reason reach logCallback (only connection set-up logs at
    // that level); smbc_init_context applies the context's level to the process.
    smbc_setDebug(ctx, 3);
    smbc_setLogCallback(ctx, nullptr, logCallback);
    smbc_setOptionUserData(ctx, this);
    smbc_setFunctionAuthDataWithContext(ctx, &Connection::auth);
    smbc_setOptionUseKerberos(ctx, 0);
    smbc_setOptionFallbackAfterKerberos(ctx, 1);
    smbc_setOptionNoAutoAnonymousLogin(ctx, 1);  // a refused logon is an error, not a guest
    smbc_setOptionUseCCache(ctx, 0);
    smbc_setTimeout(ctx, static_cast<int>(share_->options.timeout.count()));
    smbc_setOptionSmbEncryptionLevel(
        ctx, share_->options.encrypt ? SMBC_ENCRYPTLEVEL_REQUIRE : SMBC_ENCRYPTLEVEL_NONE);
    if (smbc_init_context(ctx) == nullptr) {
      const int err = errno;
      smbc_free_context(ctx, 0);
      return errnoStatus("initialise an SMB context for", share_->display, err);
    }
    ctx_ = ctx;
    return Status::Ok();
  }

  SMBCCTX* ctx() const { return ctx_; }
  std::mutex& mu() { return mu_; }
  const Share& share() const { return *share_; }

 private:
  static void auth(SMBCCTX* ctx, const char*, const char*, char* workgroup, int wglen, char* user,
                   int userlen, char* password, int pwlen) {
    auto* self = static_cast<Connection*>(smbc_getOptionUserData(ctx));
    const SmbShareOptions& o = self->share_->options;
    if (!o.domain.empty())
      std::snprintf(workgroup, static_cast<std::size_t>(wglen), "%s", o.domain.c_str());
    std::snprintf(user, static_cast<std::size_t>(userlen), "%s",
                  o.user.empty() ? "guest" : o.user.c_str());
    std::snprintf(password, static_cast<std::size_t>(pwlen), "%s", o.password.c_str());
  }

  const std::shared_ptr<const Share> share_;
  SMBCCTX* ctx_ = nullptr;
  std::mutex mu_;
};

// A call on a context: its lock (and the process-wide one when calls must be serialized), and
// the failure text of the previous call forgotten.
class Call {
 public:
  explicit Call(Connection& c)
      : conn_(c), lock_(c.mu()), global_(library().call_mu, std::defer_lock) {
    if (library().serialize_calls) global_.lock();
    t_failure.clear();
  }
  SMBCCTX* ctx() const { return conn_.ctx(); }

 private:
  Connection& conn_;
  std::lock_guard<std::mutex> lock_;
  std::unique_lock<std::mutex> global_;
};

// errno of a failed call as a Status naming the operation and the path; with the server's own
// words when libsmbclient logged them (a refused logon).
Status smbError(const Share& share, std::string_view op, std::string_view shown, int err) {
  Status s = errnoStatus(op, shown, err);
  if (t_failure.empty()) return s;
  std::string msg = s.message();
  if ((err == EACCES || err == EPERM) && t_failure.find("login failed") != std::string::npos) {
    msg += "; the server refused the logon of " + share.who + ": ";
    const std::size_t colon = t_failure.find(": ");
    msg += colon == std::string::npos ? t_failure : t_failure.substr(colon + 2);
  } else {
    msg += " (" + t_failure + ")";
  }
  return Status(s.code(), std::move(msg));
}

// ---- files ------------------------------------------------------------------------------------

class SmbFile;

// The files this file system has open, by URL. SMB refuses to rename or delete a file that is
// open (libsmbclient's handles do not share delete access), where POSIX allows it and the content
// library relies on it (a manifest is renamed into place while its locked temporary file is still
// open). Such a file's handle is closed first ("parked": its close result is the rename's) and
// reopened under the new name if it is used again.
struct OpenFiles {
  std::mutex mu;
  std::unordered_multimap<std::string, SmbFile*> by_url;
};

class SmbFile final : public File {
 public:
  SmbFile(std::shared_ptr<Connection> conn, std::shared_ptr<OpenFiles> open_files, SMBCFILE* handle,
          int flags, Path path, std::string url, std::string shown)
      : conn_(std::move(conn)),
        open_files_(std::move(open_files)),
        handle_(handle),
        flags_(flags & ~(O_CREAT | O_EXCL)),
        path_(std::move(path)),
        url_(std::move(url)),
        lock_key_(url_),
        shown_(std::move(shown)) {
    std::lock_guard<std::mutex> lock(open_files_->mu);
    open_files_->by_url.emplace(url_, this);
  }
  ~SmbFile() override { (void)close(); }

  // Closes the handle before its name is renamed to `to_url` (reopened there if used again) or
  // deleted (`to_url` empty: unusable after). Returns what the server answered to the close.
  // Called with the file registered under its current URL, by OpenFiles' owner.
  Status park(const std::string& to_url) {
    Status result;
    {
      Call call(*conn_);
      if (handle_ != nullptr &&
          smbc_getFunctionClose(call.ctx())(call.ctx(), std::exchange(handle_, nullptr)) != 0) {
        result = error("close", errno);
      }
    }
    parked_ = true;
    unregister();
    url_ = to_url;
    if (!url_.empty()) {
      std::lock_guard<std::mutex> lock(open_files_->mu);
      open_files_->by_url.emplace(url_, this);
    }
    return result;
  }

  const Path& path() const override { return path_; }

  Result<std::size_t> readAt(std::uint64_t offset, void* data, std::size_t size) override {
    Call call(*conn_);
    PKGXFER_RETURN_IF_ERROR(seek(call, offset, "read"));
    char* p = static_cast<char*>(data);
    std::size_t done = 0;
    while (done < size) {
      ssize_t n = smbc_getFunctionRead(call.ctx())(call.ctx(), handle_, p + done, size - done);
      if (n < 0) return error("read", errno);
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

  Status writeAt(std::uint64_t offset, const void* data, std::size_t size) override {
    Call call(*conn_);
    PKGXFER_RETURN_IF_ERROR(seek(call, offset, "write"));
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      ssize_t n = smbc_getFunctionWrite(call.ctx())(call.ctx(), handle_, p, size);
      if (n < 0) return error("write", errno);
      if (n == 0) return error("write", EIO);
      p += n;
      size -= static_cast<std::size_t>(n);
    }
    return Status::Ok();
  }

  // No flush in libsmbclient: every write was acknowledged by the server (see the header).
  Status sync() override {
    if (handle_ == nullptr && (!parked_ || url_.empty())) return error("sync", EBADF);
    return Status::Ok();
  }

  Status truncate(std::uint64_t size) override {
    Call call(*conn_);
    PKGXFER_RETURN_IF_ERROR(ensureOpen(call, "truncate"));
    if (smbc_getFunctionFtruncate(call.ctx())(call.ctx(), handle_, static_cast<off_t>(size)) != 0) {
      return error("truncate", errno);
    }
    return Status::Ok();
  }

  Result<FileInfo> info() override {
    Call call(*conn_);
    PKGXFER_RETURN_IF_ERROR(ensureOpen(call, "stat"));
    struct stat st {};
    if (smbc_getFunctionFstat(call.ctx())(call.ctx(), handle_, &st) != 0) {
      return error("stat", errno);
    }
    return infoOf(st);
  }

  Result<bool> tryLock() override {
    if (locked_) return true;
    if (!tryHold(lock_key_)) return false;
    locked_ = true;
    return true;
  }

  Status close() override {
    Status result;
    if (handle_ != nullptr) {
      Call call(*conn_);
      if (smbc_getFunctionClose(call.ctx())(call.ctx(), std::exchange(handle_, nullptr)) != 0) {
        result = error("close", errno);
      }
    }
    closed_ = true;
    unregister();
    if (locked_) {
      locked_ = false;
      release(lock_key_);
    }
    return result;
  }

 private:
  void unregister() {
    std::lock_guard<std::mutex> lock(open_files_->mu);
    auto [b, e] = open_files_->by_url.equal_range(url_);
    for (auto it = b; it != e; ++it) {
      if (it->second == this) {
        open_files_->by_url.erase(it);
        break;
      }
    }
  }
  // A parked file is opened again under its new name when it is used.
  Status ensureOpen(const Call& call, std::string_view op) {
    if (handle_ != nullptr) return Status::Ok();
    if (closed_ || !parked_ || url_.empty()) return error(op, EBADF);
    handle_ = smbc_getFunctionOpen(call.ctx())(call.ctx(), url_.c_str(), flags_, 0644);
    if (handle_ == nullptr) return error(op, errno);
    return Status::Ok();
  }
  Status seek(const Call& call, std::uint64_t offset, std::string_view op) {
    PKGXFER_RETURN_IF_ERROR(ensureOpen(call, op));
    if (smbc_getFunctionLseek(call.ctx())(call.ctx(), handle_, static_cast<off_t>(offset),
                                          SEEK_SET) < 0) {
      return error(op, errno);
    }
    return Status::Ok();
  }
  Status error(std::string_view op, int err) const {
    return smbError(conn_->share(), op, shown_, err);
  }

  const std::shared_ptr<Connection> conn_;
  const std::shared_ptr<OpenFiles> open_files_;
  SMBCFILE* handle_;
  const int flags_;  // to open it again after a park
  const Path path_;
  std::string url_;             // where it is now (changed by a park for a rename)
  const std::string lock_key_;  // the name tryLock() locked: the one it was opened with
  const std::string shown_;
  bool locked_ = false;
  bool parked_ = false;
  bool closed_ = false;
};

class SmbDirectoryLock final : public DirectoryLock {
 public:
  explicit SmbDirectoryLock(std::string key) : key_(std::move(key)) {}
  ~SmbDirectoryLock() override { release(key_); }

 private:
  const std::string key_;
};

// ---- the file system --------------------------------------------------------------------------

std::shared_ptr<OpenFiles> processOpenFiles() {
  static auto* files = new std::shared_ptr<OpenFiles>(std::make_shared<OpenFiles>());
  return *files;
}

class SmbFileSystem final : public FileSystem {
 public:
  explicit SmbFileSystem(std::shared_ptr<const Share> share) : share_(std::move(share)) {}

  std::string display(const Path& path) const override {
    return share_->display + displayBytes(sharePath(path));
  }

  Result<std::unique_ptr<File>> open(const Path& path, OpenMode mode) override {
    int flags = O_RDONLY;
    const char* op = "open";
    switch (mode) {
      case OpenMode::Read:
      case OpenMode::ReadRegular:
        flags = O_RDONLY;
        break;
      case OpenMode::ReadWrite:
        flags = O_RDWR;
        break;
      case OpenMode::CreateNew:
        flags = O_RDWR | O_CREAT | O_EXCL;
        op = "create";
        break;
    }
    PKGXFER_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, connection());
    const std::string u = url(path);
    SMBCFILE* handle = nullptr;
    int err = 0;
    {
      Call call(*conn);
      handle = smbc_getFunctionOpen(call.ctx())(call.ctx(), u.c_str(), flags, 0644);
      err = errno;
      if (handle == nullptr && err == EISDIR) {
        // Over SMB2 only files and folders are seen: what is there is a folder.
        return Status::InvalidArgument(display(path) + ": " +
                                       std::string(describe(FileType::Directory)) +
                                       ", not a regular file");
      }
      if (handle == nullptr) return smbError(*share_, op, display(path), err);
    }
    return std::unique_ptr<File>(std::make_unique<SmbFile>(std::move(conn), open_files_, handle,
                                                           flags, path, u, display(path)));
  }

  Result<FileInfo> stat(const Path& path, bool) override {
    PKGXFER_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, connection());
    Call call(*conn);
    struct stat st {};
    if (smbc_getFunctionStat(call.ctx())(call.ctx(), url(path).c_str(), &st) != 0) {
      return smbError(*share_, "stat", display(path), errno);
    }
    return infoOf(st);
  }

  Result<Path> canonical(const Path& path) override {
    PKGXFER_RETURN_IF_ERROR(stat(path, true).status());
    const std::string p = sharePath(path);
    return Path(p.empty() ? "/" : p);
  }

  Result<bool> makeDirectory(const Path& path) override {
    PKGXFER_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, connection());
    Call call(*conn);
    if (smbc_getFunctionMkdir(call.ctx())(call.ctx(), url(path).c_str(), 0755) == 0) return true;
    if (errno == EEXIST) return false;
    return smbError(*share_, "create folder", display(path), errno);
  }

  // Replacing an existing `to` is not atomic: libsmbclient deletes it, then renames.
  Status rename(const Path& from, const Path& to) override {
    PKGXFER_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, connection());
    // Before this thread's context is locked: a parked file may belong to another context.
    PKGXFER_RETURN_IF_ERROR(parkOpen(url(from), url(to)));
    Call call(*conn);
    if (smbc_getFunctionRename(call.ctx())(call.ctx(), url(from).c_str(), call.ctx(),
                                           url(to).c_str()) != 0) {
      return smbError(*share_, "rename " + display(from) + " to", display(to), errno);
    }
    return Status::Ok();
  }

  Status remove(const Path& path) override {
    PKGXFER_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, connection());
    (void)parkOpen(url(path), "");  // being deleted: a lost write does not matter any more
    Call call(*conn);
    if (smbc_getFunctionUnlink(call.ctx())(call.ctx(), url(path).c_str()) != 0) {
      return smbError(*share_, "delete", display(path), errno);
    }
    return Status::Ok();
  }

  Status list(const Path& dir, const ListFn& fn) override {
    PKGXFER_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, connection());
    // The names are gathered under the context's lock and handed out after it, so `fn` may call
    // back into this file system.
    std::vector<std::pair<std::string, FileType>> entries;
    {
      Call call(*conn);
      SMBCFILE* d = smbc_getFunctionOpendir(call.ctx())(call.ctx(), url(dir).c_str());
      if (d == nullptr) return smbError(*share_, "open folder", display(dir), errno);
      Status status;
      while (true) {
        errno = 0;
        struct smbc_dirent* e = smbc_getFunctionReaddir(call.ctx())(call.ctx(), d);
        if (e == nullptr) {
          if (errno != 0) status = smbError(*share_, "read folder", display(dir), errno);
          break;
        }
        std::string_view name(e->name);
        if (name == "." || name == "..") continue;
        FileType type = FileType::Unknown;
        if (e->smbc_type == SMBC_DIR) type = FileType::Directory;
        if (e->smbc_type == SMBC_FILE) type = FileType::Regular;
        if (e->smbc_type == SMBC_LINK) type = FileType::Symlink;
        entries.emplace_back(std::string(name), type);
      }
      smbc_getFunctionClosedir(call.ctx())(call.ctx(), d);
      PKGXFER_RETURN_IF_ERROR(status);
    }
    for (const auto& [name, type] : entries) fn(name, type);
    return Status::Ok();
  }

  // See the header: the server's durability, nothing to ask for.
  Status syncDirectory(const Path&) override { return Status::Ok(); }
  Status syncVolume(const Path&) override { return Status::Ok(); }

  Result<std::uint64_t> freeSpace(const Path& path) override {
    PKGXFER_ASSIGN_OR_RETURN(std::shared_ptr<Connection> conn, connection());
    Call call(*conn);
    struct statvfs vfs {};
    std::string u = url(path);
    if (smbc_getFunctionStatVFS(call.ctx())(call.ctx(), u.data(), &vfs) != 0) {
      return smbError(*share_, "statvfs", display(path), errno);
    }
    // libsmbclient fills f_bsize with the bytes per sector and f_frsize with the sectors per
    // allocation unit, the units f_bavail counts.
    const std::uint64_t unit =
        std::uint64_t{vfs.f_bsize} * (vfs.f_frsize != 0 ? std::uint64_t{vfs.f_frsize} : 1);
    return static_cast<std::uint64_t>(vfs.f_bavail) * unit;
  }

  Result<std::unique_ptr<DirectoryLock>> lockDirectory(const Path& dir) override {
    std::string key = url(dir) + "/";
    holdWaiting(key);
    return std::unique_ptr<DirectoryLock>(std::make_unique<SmbDirectoryLock>(std::move(key)));
  }

 private:
  std::string url(const Path& path) const { return share_->url + encode(sharePath(path)); }

  // Parks every file of this process open at `from` (see OpenFiles).
  Status parkOpen(const std::string& from, const std::string& to) {
    std::vector<SmbFile*> files;
    {
      std::lock_guard<std::mutex> lock(open_files_->mu);
      auto [b, e] = open_files_->by_url.equal_range(from);
      for (auto it = b; it != e; ++it) files.push_back(it->second);
    }
    Status first;
    for (SmbFile* f : files) {
      Status s = f->park(to);
      if (first.ok() && !s.ok()) first = s;
    }
    return first;
  }

  // The calling thread's context, made on its first call.
  Result<std::shared_ptr<Connection>> connection() {
    const std::thread::id me = std::this_thread::get_id();
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = by_thread_.find(me);
      if (it != by_thread_.end()) return it->second;
    }
    auto conn = std::make_shared<Connection>(share_);
    PKGXFER_RETURN_IF_ERROR(conn->init());
    std::lock_guard<std::mutex> lock(mu_);
    by_thread_.emplace(me, conn);
    return conn;
  }

  const std::shared_ptr<const Share> share_;
  // Shared by every SMB file system of the process: two transports of one share (distmgr's and
  // pkgxfermgr's) see each other's open files, as two processes would on a local disk.
  const std::shared_ptr<OpenFiles> open_files_ = processOpenFiles();
  std::mutex mu_;
  std::unordered_map<std::thread::id, std::shared_ptr<Connection>> by_thread_;  // guarded by mu_
};

}  // namespace

std::string smbShareUrl(const SmbShareOptions& share) {
  return "smb://" + displayBytes(hostPart(share)) + "/" + displayBytes(share.share);
}

Result<std::unique_ptr<FileSystem>> makeSmbFileSystem(SmbShareOptions options) {
  if (options.host.empty()) return Status::InvalidArgument("an SMB share needs a host");
  if (options.share.empty()) return Status::InvalidArgument("an SMB share needs a share name");
  (void)library();
  auto share = std::make_shared<Share>();
  share->url = "smb://" + hostPart(options) + "/" + encode(options.share);
  share->display = smbShareUrl(options);
  share->who = options.user.empty()
                   ? std::string("guest")
                   : (options.domain.empty() ? "" : displayBytes(options.domain) + "\\") +
                         displayBytes(options.user);
  share->options = std::move(options);
  return std::unique_ptr<FileSystem>(std::make_unique<SmbFileSystem>(std::move(share)));
}

}  // namespace pkgxfer::fs
