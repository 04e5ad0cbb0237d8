// The results CSV reader (io::parse_csv) on arbitrary text: it either parses or throws io::InputError.
// Second property: any table of cells the writer quotes (io::quote_csv_cell) reads back unchanged. The
// input is cut into cells at byte 0x1f and into rows at 0x1e; row 0 is the header.
#include "fuzz_common.hpp"

#include "muelab/io/csv.hpp"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace muelab;
  const std::string text = fuzz::as_text(data, size);
  fuzz::expect_clean([&] { (void)io::parse_csv(text, "fuzz.csv"); });

  std::vector<std::vector<std::string>> table(1, std::vector<std::string>(1));
  for (const char c : text) {
    if (c == '\x1e') table.emplace_back(1);
    else if (c == '\x1f') table.back().emplace_back();
    else table.back().back() += c;
  }
  const std::size_t width = table.front().size();
  std::string written;
  std::vector<std::vector<std::string>> expected;
  for (auto& row : table) {
    row.resize(width);  // the writer always writes full rows
    bool blank = width == 1 && row[0].empty();
    if (blank && !expected.empty()) continue;  // an empty one-cell row is an empty line: skipped on reading
    for (std::size_t i = 0; i < width; ++i) written += (i ? "," : "") + io::quote_csv_cell(row[i]);
    written += '\n';
    expected.push_back(row);
  }
  if (width == 1 && expected.front()[0].empty()) return 0;  // a blank header is an empty file
  io::CsvDocument doc;
  try {
    doc = io::parse_csv(written, "roundtrip.csv");
  } catch (const std::exception& e) {
    fuzz::finding("written CSV did not parse", e.what());
  }
  if (doc.header != expected.front()) fuzz::finding("round trip", "header changed");
  if (doc.rows.size() + 1 != expected.size()) fuzz::finding("round trip", "row count changed");
  for (std::size_t r = 0; r < doc.rows.size(); ++r)
    if (doc.rows[r] != expected[r + 1]) fuzz::finding("round trip", "a row changed");
  return 0;
}
