// The resume journal of an in-process sweep (docs/development.md §4, "Interrupted runs"): every finished
// training run appends one line "revision<TAB>fingerprint<TAB>final validation loss" and flushes, so a
// sweep that is killed (end of a sitting, a reboot) starts again from where it stopped when the same
// command is run again. Lines are reused only under the same clean revision: a journal written by other
// code, or by a dirty tree, is discarded, never mixed into a result.
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace muelab::experiments::transformer {

class RunJournal {
 public:
  /// Opens (or starts) the journal at `file` for code at `revision`; lines of another revision are
  /// dropped (the file is rewritten without them). When `revision` ends in "-dirty" (or is unknown)
  /// the journal is inert: nothing is read, written or reused.
  RunJournal(std::filesystem::path file, std::string revision);

  /// The loss recorded for `fingerprint` (+inf for a diverged run), if any.
  [[nodiscard]] std::optional<double> find(const std::string& fingerprint) const;

  /// Appends one finished run and flushes it to disk (thread-safe).
  void record(const std::string& fingerprint, double loss);

  [[nodiscard]] std::size_t loaded() const { return loaded_; }
  [[nodiscard]] bool reusable() const { return reusable_; }
  [[nodiscard]] const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  std::string revision_;
  bool reusable_ = false;
  std::size_t loaded_ = 0;
  std::map<std::string, double> losses_;
  std::ofstream append_;
  std::mutex mutex_;
};

/// Where the sweeps of the experiment whose scratch folder is `scratch` keep their journal.
[[nodiscard]] std::filesystem::path journal_path(const std::filesystem::path& scratch);

}  // namespace muelab::experiments::transformer
