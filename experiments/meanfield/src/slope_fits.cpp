#include "slope_fits.hpp"

#include "muelab/sim/statistics.hpp"

#include <stdexcept>

namespace muelab::experiments::meanfield {

SlopeEstimate power_law_slope_over_seeds(const std::vector<double>& sizes,
                                         const std::vector<std::vector<double>>& samples,
                                         std::uint64_t bootstrap_seed) {
  if (sizes.size() != samples.size() || sizes.size() < 3)
    throw std::invalid_argument("power_law_slope_over_seeds: need >= 3 sizes with samples");
  const std::size_t seeds = samples.front().size();
  for (const auto& row : samples)
    if (row.size() != seeds) throw std::invalid_argument("power_law_slope_over_seeds: ragged samples");
  auto slope_of = [&](std::span<const std::size_t> chosen) {
    std::vector<double> means;
    for (const auto& row : samples) {
      double sum = 0.0;
      for (std::size_t s : chosen) sum += row[s];
      means.push_back(sum / static_cast<double>(chosen.size()));
    }
    return sim::fit_power_law(sizes, means);
  };
  std::vector<std::size_t> all(seeds);
  for (std::size_t s = 0; s < seeds; ++s) all[s] = s;
  const auto fit = slope_of(all);
  const auto interval =
      sim::bootstrap_ci95(seeds, [&](std::span<const std::size_t> chosen) { return slope_of(chosen).slope; },
                          bootstrap_seed, 1000);
  return {fit.slope, interval.low, interval.high, fit.slope_standard_error};
}

}  // namespace muelab::experiments::meanfield
