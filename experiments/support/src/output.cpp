#include "muelab/experiments/output.hpp"

#include "muelab/io/csv.hpp"

#include <omp.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "muelab/revision.hpp"  // MUELAB_GIT_REVISION, regenerated at build time (cmake/Revision.cmake)
#ifndef MUELAB_SOURCE_DIR
#define MUELAB_SOURCE_DIR "."
#endif

namespace muelab::experiments {

CsvTable::CsvTable(std::vector<std::string> columns) : columns_(std::move(columns)) {}

void CsvTable::add_row(std::vector<Cell> row) {
  if (row.size() != columns_.size())
    throw std::invalid_argument(fmt::format("CSV row has {} cells, table has {} columns", row.size(), columns_.size()));
  rows_.push_back(std::move(row));
}

namespace {
std::string format_cell(const CsvTable::Cell& cell) {
  if (const auto* d = std::get_if<double>(&cell))  // one spelling of NaN (a missing statistic), never "-nan"
    return std::isnan(*d) ? std::string("nan") : fmt::format("{:.17g}", *d);
  if (const auto* i = std::get_if<long long>(&cell)) return fmt::format("{}", *i);
  return io::quote_csv_cell(std::get<std::string>(cell));
}
}  // namespace

std::string CsvTable::to_string() const {
  std::ostringstream out;
  for (std::size_t i = 0; i < columns_.size(); ++i) out << (i ? "," : "") << columns_[i];
  out << '\n';
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << format_cell(row[i]);
    out << '\n';
  }
  return out.str();
}

std::string source_revision() { return MUELAB_GIT_REVISION; }

bool is_dirty_revision(const std::string& revision) {
  const std::string suffix = "-dirty";
  return revision.size() >= suffix.size() &&
         revision.compare(revision.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_clean_revision(const std::string& revision) {
  return !revision.empty() && revision != "unknown" && !is_dirty_revision(revision);
}

std::filesystem::path source_directory() { return MUELAB_SOURCE_DIR; }

// The same feature tests as the trainer's dispatch (models::cpu::vk::isa_supported), which this library
// cannot call: experiment support must not link the trainer (the SDE and mean-field programs use it;
// test build_link_graph_sde_meanfield).
std::string instruction_set() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
  if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
    return "AVX-512";
  if (avx2) return "AVX2";
  return "baseline x86-64";
#else
  return "non-x86";
#endif
}

std::string machine_description() {
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) model = line.substr(colon + 2);
      break;
    }
  }
  return fmt::format("{} ({}); {} logical cores; {} OpenMP threads", model, instruction_set(),
                     std::thread::hardware_concurrency(), omp_get_max_threads());
}

}  // namespace muelab::experiments
