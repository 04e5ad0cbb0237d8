// Discrete optimizers (SGD, momentum SGD, Adam, AdamW with PyTorch-coupled weight decay
// θ ← θ − ηλθ − η·update, docs/theory.md §1) and the SVAG gradient oracle (docs/theory.md §7).
#pragma once

#include "muelab/sim/sde/problems.hpp"

#include <Eigen/Core>

#include <string>

namespace muelab::sim::sde {

enum class OptimizerName { sgd, momentum_sgd, adam, adamw };
[[nodiscard]] OptimizerName parse_optimizer_name(const std::string& name);  ///< throws, naming accepted values

struct OptimizerHyperparameters {
  OptimizerName name = OptimizerName::sgd;
  double lr = 0.1;
  double beta1 = 0.9;   ///< momentum (momentum SGD) or Adam β1
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  ///< coupled: θ ← θ − ηλθ (AdamW; also applied by SGD variants when > 0)
};

/// One optimizer's state for one path; step() applies one update with gradient g.
class DiscreteOptimizer {
 public:
  DiscreteOptimizer(const OptimizerHyperparameters& hyper, Eigen::Index dimension);
  void step(Eigen::VectorXd& x, const Eigen::VectorXd& g);
  [[nodiscard]] long long steps_taken() const { return steps_; }
  [[nodiscard]] const OptimizerHyperparameters& hyperparameters() const { return hyper_; }

 private:
  OptimizerHyperparameters hyper_;
  Eigen::VectorXd first_moment_, second_moment_;
  long long steps_ = 0;
};

/// SVAG (docs/theory.md §7): g̃ = ((1+√(2ℓ−1))/2) g1 + ((1−√(2ℓ−1))/2) g2 from two independent
/// minibatch gradients: same mean, ℓ× the covariance.
struct SvagWeights {
  double first = 1.0;
  double second = 0.0;
};
[[nodiscard]] SvagWeights svag_weights(double ell);

/// Hyperparameters of the ℓ-SVAG run that follows the same SDE: SGD η/ℓ; Adam η/√ℓ, 1−β ×1/ℓ,
/// ε ×√ℓ; both for ℓ× the steps (returned in `steps`).
struct SvagSchedule {
  OptimizerHyperparameters hyper;
  long long steps = 0;
};
[[nodiscard]] SvagSchedule svag_schedule(const OptimizerHyperparameters& hyper, long long steps, double ell);

/// One SVAG gradient (draws 2·step and 2·step+1 of the model's minibatch stream).
void svag_gradient(const GradientModel& model, const Eigen::VectorXd& x, double ell, const CounterRng& rng,
                   std::uint64_t path, std::uint64_t step, Eigen::VectorXd& out);

}  // namespace muelab::sim::sde
