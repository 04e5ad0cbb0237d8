#include "muelab/io/csv.hpp"
#include "muelab/io/input_error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

namespace muelab::io {

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cells.back() += '"';
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        cells.back() += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      cells.emplace_back();
    } else if (ch != '\r') {
      cells.back() += ch;
    }
  }
  return cells;
}

std::string quote_csv_cell(const std::string& cell) {
  if (cell.find_first_of(",\"\n") == std::string::npos) return cell;
  std::string quoted = "\"";
  for (const char c : cell) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::size_t CsvDocument::column(const std::string& name) const {
  const auto it = std::find(header.begin(), header.end(), name);
  if (it == header.end()) throw InputError(source, name, "missing column");
  return static_cast<std::size_t>(it - header.begin());
}

CsvDocument read_csv(const std::filesystem::path& path) {
  CsvDocument doc;
  doc.source = path.string();
  std::ifstream in(path);
  if (!in) throw InputError(doc.source, "(file)", "cannot read");
  std::string line;
  if (!std::getline(in, line)) throw InputError(doc.source, "(header)", "empty file");
  doc.header = split_csv_line(line);
  for (std::size_t number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    auto cells = split_csv_line(line);
    if (cells.size() != doc.header.size())
      throw InputError(doc.source, fmt::format("(line {})", number),
                       fmt::format("{} cells, the header has {}", cells.size(), doc.header.size()));
    doc.rows.push_back(std::move(cells));
  }
  return doc;
}

}  // namespace muelab::io
