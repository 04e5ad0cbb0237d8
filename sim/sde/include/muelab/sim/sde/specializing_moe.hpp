// A Bridge II testbed where experts must specialize (docs/theory.md §5.2; the toy of toy_moe.hpp
// cannot: its balanced MoE is N/a copies of one dense model and its teacher is linear).
//
// Teacher: the input space x ~ N(0, I_d) is cut into K regions by a fixed random "teacher router"
// (region k = argmax_k u_kᵀx), and each region has its own non-linear function
// y = Σ_j c_kj erf(v_kjᵀx/√d) plus Gaussian label noise: no single small expert fits every region.
// Student: N two-layer erf experts f_e(x) = Σ_{i<h} b_ei erf(w_eiᵀx/√d), a learned sigmoid router
// (scores s_e = σ(r_eᵀx), the a largest s_e + bias_e are active, an auxiliary-loss-free balancing bias
// moves towards equal load) with gates normalized over the active set π_e = s_e/Σ_{j∈S} s_j, and
// Complete-muE's output ŷ = A·R·Σ_{e∈S} π_e f_e(x) with R = a and A = d/(a·h) (Bridge I; or the plain
// routed sum Σ_{e∈S} f_e(x) as a control). Data are fresh every step (online, counter-based RNG keyed
// by seed, step and sample: the same stream for every thread count). Trained by DiscreteOptimizer.
#pragma once

#include "muelab/sim/counter_rng.hpp"
#include "muelab/sim/sde/optimizers.hpp"
#include "muelab/sim/sde/toy_moe.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <vector>

namespace muelab::sim::sde {

struct SpecializingProblem {
  int dimension = 16;       ///< d
  int regions = 8;          ///< K teacher regions
  int teacher_width = 4;    ///< hidden units per region's teacher function
  double label_noise = 0.1;
  int test_samples = 4096;  ///< held-out inputs (noise-free targets) for the population loss
};

struct SpecializingShape {
  int experts = 8;       ///< N
  int active = 2;        ///< a
  int expert_width = 8;  ///< h
  int batch = 64;        ///< B
  Parameterization parameterization = Parameterization::complete_mue;
  bool balance = true;   ///< the balancing bias (off: the imbalanced-routing break of Bridge II)
};

class SpecializingMoe {
 public:
  static constexpr double kBalanceRate = 0.01;

  /// Throws std::invalid_argument naming the field on a shape or problem it cannot train.
  SpecializingMoe(const SpecializingProblem& problem, const SpecializingShape& shape, std::uint64_t seed);

  /// Parameters: per expert e the h×d input weights w_e (row-major), then its h readout weights b_e;
  /// then the router (N × d).
  [[nodiscard]] Eigen::Index parameter_count() const;
  /// Experts N(0, 1) input weights (scaled by 1/√d in the forward pass), readouts N(0, 1/h), router
  /// N(0, 1/d); seeded by the problem seed so every (a, N) of a seed starts from related draws.
  [[nodiscard]] Eigen::VectorXd initial_parameters() const;

  /// The output multiplier on the routed sum: A·R = d/(a·h)·a (Complete-muE) or 1 (plain sum; its
  /// gates are then 1, not normalized).
  [[nodiscard]] double output_factor() const { return factor_; }

  /// Minibatch loss (1/B) Σ ½(ŷ − y)² and its gradient at step `step`, draw `draw` of the data stream;
  /// routing uses `bias`; `load` (optional) receives the samples per expert.
  double loss_and_gradient(const Eigen::VectorXd& flat, std::uint64_t step, std::uint64_t draw, const Eigen::VectorXd& bias,
                           Eigen::VectorXd& gradient, Eigen::VectorXd* load = nullptr) const;

  /// Held-out loss E ½(ŷ − y*)² on noise-free targets.
  [[nodiscard]] double population_loss(const Eigen::VectorXd& flat, const Eigen::VectorXd& bias) const;

  /// Trains `steps` steps from initial_parameters(); returns the population loss (+inf on divergence).
  [[nodiscard]] double train(const OptimizerHyperparameters& hyper, long long steps) const;
  /// The same training, leaving the parameters and the balancing bias in `flat` and `bias` (they are
  /// overwritten); false when the loss or gradient became non-finite.
  [[nodiscard]] bool train_to(const OptimizerHyperparameters& hyper, long long steps, Eigen::VectorXd& flat,
                              Eigen::VectorXd& bias) const;

  /// The teacher region of an input, and the experts the router activates for it (for specialization
  /// checks: after training, the experts a region is sent to should be few).
  [[nodiscard]] int region_of(const Eigen::VectorXd& x) const;
  void active_experts(const Eigen::VectorXd& flat, const Eigen::VectorXd& bias, const Eigen::VectorXd& x,
                      std::vector<int>& out) const;
  /// Input `i` of the held-out set.
  [[nodiscard]] Eigen::VectorXd test_input(int i) const { return test_inputs_.row(i).transpose(); }

 private:
  [[nodiscard]] double teacher(const Eigen::VectorXd& x) const;
  /// Forward for one input: fills the active set, gates and expert outputs; returns ŷ.
  double forward(const Eigen::VectorXd& flat, const Eigen::VectorXd& bias, const Eigen::VectorXd& x) const;
  [[nodiscard]] Eigen::Index expert_offset(int e) const;
  [[nodiscard]] Eigen::Index router_offset() const;

  SpecializingProblem problem_;
  SpecializingShape shape_;
  CounterRng rng_;
  double factor_;
  Eigen::MatrixXd region_vectors_;                 ///< K × d
  std::vector<Eigen::MatrixXd> teacher_inner_;     ///< per region: m × d
  std::vector<Eigen::VectorXd> teacher_outer_;     ///< per region: m
  Eigen::MatrixXd test_inputs_;
  Eigen::VectorXd test_targets_;
  // Scratch of the last forward (one object per thread).
  mutable std::vector<int> selected_;
  mutable std::vector<double> scores_, gates_, expert_out_;
  mutable std::vector<std::pair<double, int>> order_;
  mutable double score_sum_ = 1.0;
};

}  // namespace muelab::sim::sde
