#pragma once

// Status and Result<T>: how every pkgxfer module reports failure. No pkgxfer code throws across a
// module boundary; throwing libraries (nlohmann/json, Boost, std::filesystem) are wrapped at the
// module edge and their error text is kept in the message.

#include <cassert>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace pkgxfer {

// A cheap-to-copy success or a named failure kind with a human-readable message. An OK Status holds
// no allocation. Thread-safe as a value (immutable after construction).
class [[nodiscard]] Status {
 public:
  enum class Code {
    Ok = 0,
    InvalidArgument,   // bad input from a user, a config or a peer; retrying will not help
    NotFound,          // the named thing does not exist
    AlreadyExists,     // creating something that exists (e.g. a duplicate package ID)
    IoError,           // a local file system or OS error
    Unavailable,       // retryable: a DP unreachable, a server busy, a share not mounted
    PermissionDenied,  // credentials or file permissions refused the operation
    Cancelled,         // the operation was stopped (service stopping, job superseded)
    Corruption,        // data that failed a check: hash mismatch, malformed manifest, bad database
    Internal,          // a bug: an invariant did not hold
  };

  Status() = default;
  Status(Code code, std::string message)
      : state_(code == Code::Ok ? nullptr
                                : std::make_shared<const State>(State{code, std::move(message)})) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {Code::InvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {Code::NotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) { return {Code::AlreadyExists, std::move(msg)}; }
  static Status IoError(std::string msg) { return {Code::IoError, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {Code::Unavailable, std::move(msg)}; }
  static Status PermissionDenied(std::string msg) {
    return {Code::PermissionDenied, std::move(msg)};
  }
  static Status Cancelled(std::string msg) { return {Code::Cancelled, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {Code::Corruption, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::Internal, std::move(msg)}; }

  bool ok() const { return state_ == nullptr; }
  Code code() const { return state_ ? state_->code : Code::Ok; }
  // The message without the kind; empty for OK.
  const std::string& message() const;
  // "<Kind>: <message>", or "OK".
  std::string toString() const;

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status withContext(std::string_view context) const;

 private:
  struct State {
    Code code;
    std::string message;
  };
  std::shared_ptr<const State> state_;
};

std::string_view codeName(Status::Code code);

// What an exception says, for a top-level catch that turns it into a log line or a Status:
// e.what() for a std::exception, a fixed text for anything else.
std::string exceptionText(const std::exception_ptr& error);

// Result<T> holds a T or a non-OK Status, shaped like std::expected<T, Status>.
template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cvref_t<T>, Status>, "use Status directly");

 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    assert(!std::get<1>(v_).ok() && "Result constructed from an OK Status");
    if (std::get<1>(v_).ok()) {
      v_.template emplace<1>(Status::Internal("Result constructed from an OK Status"));
    }
  }

  bool ok() const { return v_.index() == 0; }
  bool has_value() const { return ok(); }
  explicit operator bool() const { return ok(); }

  // Precondition for the accessors below: ok().
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The failure; OK when the result holds a value.
  Status status() const { return ok() ? Status() : std::get<1>(v_); }
  const Status& error() const { return std::get<1>(v_); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Status> v_;
};

}  // namespace pkgxfer

// Propagates a non-OK Status from an expression returning Status.
#define PKGXFER_RETURN_IF_ERROR(expr)        \
  do {                                       \
    ::pkgxfer::Status _px_status = (expr);   \
    if (!_px_status.ok()) return _px_status; \
  } while (0)

#define PKGXFER_CONCAT_INNER(a, b) a##b
#define PKGXFER_CONCAT(a, b) PKGXFER_CONCAT_INNER(a, b)
// `PKGXFER_ASSIGN_OR_RETURN(auto x, makeX());` declares x from a Result or returns its Status.
#define PKGXFER_ASSIGN_OR_RETURN(decl, expr) \
  PKGXFER_ASSIGN_OR_RETURN_IMPL(PKGXFER_CONCAT(_px_result_, __LINE__), decl, expr)
#define PKGXFER_ASSIGN_OR_RETURN_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.error();                   \
  decl = std::move(tmp).value()
