#include "common.hpp"

#include <cmath>
#include <limits>

namespace muelab::experiments::sde {

Verdict slope_verdict(const ClaimSpec& spec, const std::string& case_name, const std::vector<double>& x,
                      const std::vector<double>& y) {
  for (double value : y)
    if (!(value > 0.0) || !std::isfinite(value))
      return not_measured(spec, case_name, "a distance is zero or not finite: no log-log slope");
  const auto fit = sim::fit_power_law(x, y);
  return judge(spec, case_name, fit.slope, fit.slope_ci95.low, fit.slope_ci95.high);
}

Verdict slope_verdict(const std::string& claim, const std::string& case_name, VerdictKind kind,
                      const std::vector<double>& x, const std::vector<double>& y, double predicted, double tolerance) {
  for (double value : y)
    if (!(value > 0.0) || !std::isfinite(value)) {
      const double nan = std::numeric_limits<double>::quiet_NaN();
      return judge_within_tolerance(claim, case_name, kind, nan, nan, nan, predicted, tolerance);
    }
  const auto fit = sim::fit_power_law(x, y);
  return judge_within_tolerance(claim, case_name, kind, fit.slope, fit.slope_ci95.low, fit.slope_ci95.high,
                                predicted, tolerance);
}

}  // namespace muelab::experiments::sde
