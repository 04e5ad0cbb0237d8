#include "muelab/models/core/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace muelab::models {

std::map<ParameterGroup, GroupHyperparameters> group_hyperparameters(const theory::TransferResult& t) {
  std::map<ParameterGroup, GroupHyperparameters> out;
  for (const auto& g : t.groups)
    out[g.group] = {g.lr.value(), g.weight_decay.value(), g.eps.value(), g.beta1.value(), g.beta2.value()};
  return out;
}

double Schedule::factor(std::int64_t step) const {
  const auto s = static_cast<double>(step);
  if (step < warmup_steps) return (s + 1.0) / static_cast<double>(warmup_steps);
  const double span = static_cast<double>(std::max<std::int64_t>(1, total_steps - warmup_steps));
  const double progress = std::clamp((s - static_cast<double>(warmup_steps)) / span, 0.0, 1.0);
  switch (kind) {
    case Kind::constant: return 1.0;
    case Kind::cosine: return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
    case Kind::wsd: {
      const double decay_start = 1.0 - decay_fraction;
      if (progress <= decay_start) return 1.0;
      return 1.0 - (1.0 - min_factor) * (progress - decay_start) / decay_fraction;
    }
  }
  return 1.0;
}

}  // namespace muelab::models
