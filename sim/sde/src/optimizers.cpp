#include "muelab/sim/sde/optimizers.hpp"

#include <cmath>
#include <stdexcept>

namespace muelab::sim::sde {

OptimizerName parse_optimizer_name(const std::string& name) {
  if (name == "sgd") return OptimizerName::sgd;
  if (name == "momentum-sgd") return OptimizerName::momentum_sgd;
  if (name == "adam") return OptimizerName::adam;
  if (name == "adamw") return OptimizerName::adamw;
  throw std::invalid_argument("optimizer: unknown value '" + name + "' (accepted: sgd, momentum-sgd, adam, adamw)");
}

DiscreteOptimizer::DiscreteOptimizer(const OptimizerHyperparameters& hyper, Eigen::Index dimension)
    : hyper_(hyper), first_moment_(Eigen::VectorXd::Zero(dimension)), second_moment_(Eigen::VectorXd::Zero(dimension)) {
  if (!(hyper.lr > 0.0)) throw std::invalid_argument("lr: must be positive");
  if (!(hyper.beta1 >= 0.0 && hyper.beta1 < 1.0)) throw std::invalid_argument("beta1: must lie in [0, 1)");
  if (!(hyper.beta2 >= 0.0 && hyper.beta2 < 1.0)) throw std::invalid_argument("beta2: must lie in [0, 1)");
}

void DiscreteOptimizer::step(Eigen::VectorXd& x, const Eigen::VectorXd& g) {
  ++steps_;
  const double lr = hyper_.lr;
  if (hyper_.weight_decay != 0.0) x *= (1.0 - lr * hyper_.weight_decay);  // coupled decay (§1)
  switch (hyper_.name) {
    case OptimizerName::sgd:
      x -= lr * g;
      break;
    case OptimizerName::momentum_sgd:
      first_moment_ = hyper_.beta1 * first_moment_ + g;
      x -= lr * first_moment_;
      break;
    case OptimizerName::adam:
    case OptimizerName::adamw: {
      first_moment_ = hyper_.beta1 * first_moment_ + (1.0 - hyper_.beta1) * g;
      second_moment_ = hyper_.beta2 * second_moment_ + (1.0 - hyper_.beta2) * g.cwiseAbs2();
      const double k = static_cast<double>(steps_);
      const double correction1 = 1.0 - std::pow(hyper_.beta1, k);
      const double correction2 = 1.0 - std::pow(hyper_.beta2, k);
      x.array() -= lr * (first_moment_.array() / correction1) /
                   ((second_moment_.array() / correction2).sqrt() + hyper_.eps);
      break;
    }
  }
}

SvagWeights svag_weights(double ell) {
  if (!(ell >= 1.0)) throw std::invalid_argument("svag ell: must be at least 1");
  const double root = std::sqrt(2.0 * ell - 1.0);
  return {0.5 * (1.0 + root), 0.5 * (1.0 - root)};
}

SvagSchedule svag_schedule(const OptimizerHyperparameters& hyper, long long steps, double ell) {
  SvagSchedule schedule{hyper, static_cast<long long>(std::llround(static_cast<double>(steps) * ell))};
  if (hyper.name == OptimizerName::sgd || hyper.name == OptimizerName::momentum_sgd) {
    schedule.hyper.lr = hyper.lr / ell;
    if (hyper.name == OptimizerName::momentum_sgd) schedule.hyper.beta1 = 1.0 - (1.0 - hyper.beta1) / ell;
  } else {
    schedule.hyper.lr = hyper.lr / std::sqrt(ell);
    schedule.hyper.beta1 = 1.0 - (1.0 - hyper.beta1) / ell;
    schedule.hyper.beta2 = 1.0 - (1.0 - hyper.beta2) / ell;
    schedule.hyper.eps = hyper.eps * std::sqrt(ell);
    // AdamW keeps λ̃ = λ/η invariant: λ ×1/√ℓ (docs/theory.md §7, square-root rule for λ).
    schedule.hyper.weight_decay = hyper.weight_decay / std::sqrt(ell);
  }
  return schedule;
}

void svag_gradient(const GradientModel& model, const Eigen::VectorXd& x, double ell, const CounterRng& rng,
                   std::uint64_t path, std::uint64_t step, Eigen::VectorXd& out) {
  const auto weights = svag_weights(ell);
  Eigen::VectorXd second(x.size());
  model.sample_gradient(x, rng, path, step, 0, out);
  if (weights.second == 0.0) return;
  model.sample_gradient(x, rng, path, step, 1, second);
  out = weights.first * out + weights.second * second;
}

}  // namespace muelab::sim::sde
