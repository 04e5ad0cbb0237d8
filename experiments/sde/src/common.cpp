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

}  // namespace muelab::experiments::sde
