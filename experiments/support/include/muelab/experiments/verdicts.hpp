// The verdict format shared by every experiment (ENGINEERING.md §5). A claim row is as expected
// when it holds; a control row is as expected when it does not hold.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace muelab::experiments {

enum class VerdictKind { claim, control };

struct Verdict {
  std::string claim;       ///< claim id from THEORY.md §9
  std::string case_name;   ///< what was measured, e.g. "E f(x_T), Gaussian noise"
  VerdictKind kind = VerdictKind::claim;
  double measured = 0.0;
  double ci_low = 0.0;     ///< 95% interval (bootstrap over seeds or a fit's standard error)
  double ci_high = 0.0;
  double predicted = 0.0;
  double tolerance = 0.0;
  bool holds = false;

  [[nodiscard]] bool as_expected() const { return kind == VerdictKind::claim ? holds : !holds; }
};

/// A verdict that holds when the measured value lies within `tolerance` of the prediction.
[[nodiscard]] Verdict judge_within_tolerance(std::string claim, std::string case_name, VerdictKind kind,
                                             double measured, double ci_low, double ci_high,
                                             double predicted, double tolerance);

struct VerdictReport {
  std::string experiment;
  std::string profile;
  std::uint64_t seed = 0;
  std::vector<Verdict> verdicts;

  [[nodiscard]] bool all_as_expected() const;
  /// Writes verdicts.json atomically (with the source revision).
  void write(const std::filesystem::path& path) const;
  /// One human-readable line per verdict, for the console.
  [[nodiscard]] std::string summary() const;
};

}  // namespace muelab::experiments
