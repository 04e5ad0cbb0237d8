// Log-log slopes of a measurement against a size parameter (width, expert count, depth, ...), with a
// 95% interval from a bootstrap over seeds (the seeds are resampled jointly across sizes, as every size
// uses the same seed list), judged against a claim declared in the experiment's plan
// (docs/claims.md, "How a row is judged").
#pragma once

#include "muelab/experiments/verdicts.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace muelab::experiments::meanfield {

/// Fewer seeds give no bootstrap interval worth the name (with two, the widened interval is mean ± 9.2 half-ranges).
inline constexpr std::size_t kMinimumSeedsForInterval = 3;
/// Resamples of the (widened percentile) bootstrap over seeds (every plan shows it as "bootstrap_resamples").
inline constexpr std::size_t kBootstrapResamples = 1000;

struct SlopeEstimate {
  double slope = std::numeric_limits<double>::quiet_NaN();
  double ci_low = std::numeric_limits<double>::quiet_NaN();
  double ci_high = std::numeric_limits<double>::quiet_NaN();
  double fit_standard_error = std::numeric_limits<double>::quiet_NaN();  ///< least-squares SE on the seed means
  std::string problem;  ///< why there is no slope (empty when measured)
  [[nodiscard]] bool measured() const { return problem.empty(); }
};

/// Slope of log(mean over seeds of samples[k]) against log(sizes[k]); samples[k][s] is seed s. Never
/// throws on bad input: fewer than 3 sizes, fewer than kMinimumSeedsForInterval seeds, ragged samples
/// or a non-positive / non-finite value leave the estimate unmeasured with the reason in `problem`.
[[nodiscard]] SlopeEstimate power_law_slope_over_seeds(const std::vector<double>& sizes,
                                                       const std::vector<std::vector<double>>& samples,
                                                       std::uint64_t bootstrap_seed);

/// The slope's row: judge(spec, ...) on its bootstrap interval, or not_measured(spec, ...) with the
/// estimate's problem when there is no slope.
[[nodiscard]] Verdict slope_verdict(const ClaimSpec& spec, std::string case_name, const SlopeEstimate& estimate);

/// A slope estimate and its judged row (the estimate also goes to the experiment's fits CSV).
struct JudgedSlope {
  SlopeEstimate estimate;
  Verdict verdict;
};

/// power_law_slope_over_seeds, then slope_verdict against `spec`.
[[nodiscard]] JudgedSlope judge_power_law_slope(const ClaimSpec& spec, std::string case_name,
                                                const std::vector<double>& sizes,
                                                const std::vector<std::vector<double>>& samples,
                                                std::uint64_t bootstrap_seed);

}  // namespace muelab::experiments::meanfield
