// Log-log slopes of a measurement against a size parameter, with a 95% interval from a bootstrap
// over seeds (the seeds are resampled jointly across sizes, as every size uses the same seed list).
#pragma once

#include <cstdint>
#include <vector>

namespace muelab::experiments::meanfield {

struct SlopeEstimate {
  double slope = 0.0;
  double ci_low = 0.0;
  double ci_high = 0.0;
  double fit_standard_error = 0.0;  ///< standard error of the least-squares slope on the seed means
};

/// Slope of log(mean over seeds of samples[k]) against log(sizes[k]); samples[k][s] is seed s.
[[nodiscard]] SlopeEstimate power_law_slope_over_seeds(const std::vector<double>& sizes,
                                                       const std::vector<std::vector<double>>& samples,
                                                       std::uint64_t bootstrap_seed);

}  // namespace muelab::experiments::meanfield
