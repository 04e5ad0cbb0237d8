// The project's one CSV dialect (RFC 4180): comma-separated, a header row, cells with a comma, quote
// or newline quoted with doubled quotes inside.
#pragma once

#include "muelab/io/input_error.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace muelab::io {

/// Splits one CSV line into its cells (quotes removed, doubled quotes undone).
[[nodiscard]] std::vector<std::string> split_csv_line(const std::string& line);
/// One cell as written: quoted when it holds a comma, a quote, a newline or a carriage return.
[[nodiscard]] std::string quote_csv_cell(const std::string& cell);

struct CsvDocument {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  ///< each as long as the header
  /// Index of `column`; throws InputError naming the file and the column when absent.
  [[nodiscard]] std::size_t column(const std::string& column) const;
  std::string source;
};

/// Parses CSV text (RFC 4180: a quoted cell may hold commas, doubled quotes and newlines; empty lines
/// are skipped). Throws InputError (source, "(line N)", ...) on an empty text, a row whose cell count
/// differs from the header's, or an unterminated quoted cell.
[[nodiscard]] CsvDocument parse_csv(std::string_view text, const std::string& source);
/// Reads a whole CSV file. Throws InputError (file, "(line N)", ...) on a missing file, an empty file
/// or a row whose cell count differs from the header's.
[[nodiscard]] CsvDocument read_csv(const std::filesystem::path& path);

}  // namespace muelab::io
