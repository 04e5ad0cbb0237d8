// Writing results without ever leaving a half-written file behind: every file is written to a
// temporary sibling (named after the process id) and renamed into place only when complete.
#pragma once

#include <filesystem>
#include <string>

namespace muelab::io {

/// Writes `contents` to `path` atomically (parent folders created). Throws std::runtime_error naming
/// the file on I/O failure; the temporary file is removed then.
void write_file_atomically(const std::filesystem::path& path, const std::string& contents);

}  // namespace muelab::io
