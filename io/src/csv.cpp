#include "muelab/io/csv.hpp"
#include "muelab/io/input_error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>

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
  if (cell.find_first_of(",\"\n\r") == std::string::npos) return cell;
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

CsvDocument parse_csv(std::string_view text, const std::string& source) {
  CsvDocument doc;
  doc.source = source;
  // One pass over the whole text: a record ends at a newline outside quotes, so a quoted cell may hold
  // newlines (RFC 4180). '\r' outside quotes is dropped (CRLF files). Empty lines are skipped.
  std::vector<std::string> record(1);
  bool quoted = false, record_has_text = false;
  std::size_t line = 1, record_line = 1;
  const auto finish_record = [&]() {
    if (record_has_text || record.size() > 1) {
      if (doc.header.empty()) {
        doc.header = std::move(record);
      } else if (record.size() != doc.header.size()) {
        throw InputError(doc.source, fmt::format("(line {})", record_line),
                         fmt::format("{} cells, the header has {}", record.size(), doc.header.size()));
      } else {
        doc.rows.push_back(std::move(record));
      }
    }
    record.assign(1, std::string());
    record_has_text = false;
    record_line = line;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (ch == '\n') ++line;
    if (quoted) {
      if (ch == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        record.back() += '"';
        ++i;
      } else if (ch == '"') {
        quoted = false;
      } else {
        record.back() += ch;
      }
      continue;
    }
    if (ch == '"') {
      quoted = true;
      record_has_text = true;
    } else if (ch == ',') {
      record.emplace_back();
    } else if (ch == '\n') {
      finish_record();
    } else if (ch != '\r') {
      record.back() += ch;
      record_has_text = true;
    }
  }
  if (quoted) throw InputError(doc.source, fmt::format("(line {})", record_line), "unterminated quoted cell");
  finish_record();
  if (doc.header.empty()) throw InputError(doc.source, "(header)", "empty file");
  return doc;
}

CsvDocument read_csv(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "(file)", "cannot read");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_csv(text.str(), path.string());
}

}  // namespace muelab::io
