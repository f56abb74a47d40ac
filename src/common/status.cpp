#include "pkgxfer/common/status.h"

namespace pkgxfer {

std::string_view codeName(Status::Code code) {
  switch (code) {
    case Status::Code::Ok:
      return "OK";
    case Status::Code::InvalidArgument:
      return "Invalid argument";
    case Status::Code::NotFound:
      return "Not found";
    case Status::Code::AlreadyExists:
      return "Already exists";
    case Status::Code::IoError:
      return "I/O error";
    case Status::Code::Unavailable:
      return "Unavailable";
    case Status::Code::PermissionDenied:
      return "Permission denied";
    case Status::Code::Cancelled:
      return "Cancelled";
    case Status::Code::Corruption:
      return "Corruption";
    case Status::Code::Internal:
      return "Internal error";
  }
  return "Unknown";
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return state_ ? state_->message : kEmpty;
}

std::string Status::toString() const {
  if (ok()) return "OK";
  std::string out(codeName(code()));
  out += ": ";
  out += state_->message;
  return out;
}

Status Status::withContext(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  msg += ": ";
  msg += state_->message;
  return Status(state_->code, std::move(msg));
}

std::string exceptionText(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

}  // namespace pkgxfer
