// Writing results without ever leaving a half-written file behind: every file is written to a
// temporary sibling and renamed into place only when complete (developers' guide: bad input never
// corrupts results). Also the run metadata written next to every experiment's results
// (docs/development.md §3: config, seed, git revision, machine).
#pragma once

#include "muelab/io/atomic_file.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <variant>
#include <vector>

namespace muelab::experiments {

/// The project's one atomic writer (io/): temporary sibling + rename.
using io::write_file_atomically;

/// A CSV table with stable, documented column names; cells are numbers or strings.
class CsvTable {
 public:
  using Cell = std::variant<double, long long, std::string>;
  explicit CsvTable(std::vector<std::string> columns);
  void add_row(std::vector<Cell> row);  ///< throws when the row has the wrong number of cells
  [[nodiscard]] std::string to_string() const;
  void write(const std::filesystem::path& path) const { write_file_atomically(path, to_string()); }
  [[nodiscard]] const std::vector<std::string>& columns() const { return columns_; }
  [[nodiscard]] std::size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<Cell>> rows_;
};

/// The git revision the binary was configured from (`git describe --always --dirty`).
[[nodiscard]] std::string source_revision();
/// Whether a revision names an uncommitted tree (ends in "-dirty"): its results are not evidence.
[[nodiscard]] bool is_dirty_revision(const std::string& revision);
/// Whether a revision names committed code exactly: known (not empty, not "unknown") and not dirty.
/// Only such a revision lets a journal or a finished experiment be reused.
[[nodiscard]] bool is_clean_revision(const std::string& revision);
/// The widest instruction set the trainer's run-time dispatch can use here: "AVX-512", "AVX2",
/// "baseline x86-64", or "non-x86" off x86-64. The trainer's kernels and GEMMs round differently per instruction set,
/// so runs are bit-identical across thread counts but not across these (docs/claims.md `duration-transfer`).
[[nodiscard]] std::string instruction_set();
/// CPU model, instruction set, logical core count and OpenMP thread count of this machine, in one line.
[[nodiscard]] std::string machine_description();
/// Absolute path of the source tree (for plots/ scripts and default configs).
[[nodiscard]] std::filesystem::path source_directory();

}  // namespace muelab::experiments
