#include "muelab/io/atomic_file.hpp"
#include "muelab/io/input_error.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>

namespace muelab::io {

InputError::InputError(std::string source, std::string field, std::string message)
    : std::runtime_error(source + ": field " + field + ": " + message),
      source_(std::move(source)),
      field_(std::move(field)),
      message_(std::move(message)) {}

void write_file_atomically(const std::filesystem::path& path, const std::string& contents) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  const auto temporary = std::filesystem::path(path.string() + fmt::format(".tmp.{}", ::getpid()));
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", temporary.string()));
    out << contents;
    out.flush();
    if (!out) {
      out.close();
      std::filesystem::remove(temporary);
      throw std::runtime_error(fmt::format("cannot write {}", temporary.string()));
    }
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace muelab::io
