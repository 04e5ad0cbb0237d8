// One-line input errors (developers' guide: bad input never crashes): where (file or option), which
// field, and what is accepted.
#pragma once

#include <stdexcept>
#include <string>

namespace muelab::io {

class InputError : public std::runtime_error {
 public:
  InputError(std::string source, std::string field, std::string message);
  [[nodiscard]] const std::string& source() const { return source_; }
  [[nodiscard]] const std::string& field() const { return field_; }
  [[nodiscard]] const std::string& message() const { return message_; }

 private:
  std::string source_, field_, message_;
};

}  // namespace muelab::io
