// A toy mixture-of-experts regression for the Bridge II measurement (docs/theory.md §5.1, §5.2; the
// experiment is experiments/sde/src/bridge2_moe.cpp).
//
// N linear experts W_e ∈ R^d; a global batch of B samples per step from a finite training set
// (sampled with replacement: genuine minibatch noise); each sample goes to a of the N experts, either
// by the deterministic balanced assignment {(i·a + j) mod N} (every expert sees exactly B·a/N samples
// per step) or by a learned sigmoid router (top-a, normalized gates, balancing bias); output
// ŷ = A·R·Σ_{e∈S} π_e W_eᵀx with Complete-muE's route scale R = a and active-width multiplier
// A = d/H_act (muelab_theory bridge.hpp), or the plain routed sum Σ_{e∈S} W_eᵀx. Labels come from a
// seeded linear teacher plus Gaussian label noise. Trained by sim::sde::DiscreteOptimizer.
#pragma once

#include "muelab/sim/counter_rng.hpp"
#include "muelab/sim/sde/optimizers.hpp"

#include <Eigen/Core>

#include <cstdint>
#include <utility>
#include <vector>

namespace muelab::sim::sde {

/// How samples reach experts: the deterministic balanced assignment (sample at batch position i goes
/// to experts {(i·a + j) mod N}, every expert sees exactly B·a/N samples per step, gates 1/a), or a
/// learned sigmoid router (scores σ(r_eᵀx), top-a selection with an auxiliary-loss-free balancing
/// bias, gates normalized over the active set, docs/theory.md §5.1 "Gating").
enum class Routing { balanced, learned_sigmoid };
/// Complete-muE (A = d/H_act on the block, route scale R = a on the normalized routed sum) or a plain
/// MoE without them: the routed sum Σ_{e∈S} W_eᵀx with unit gates (no A, no R, no normalization).
enum class Parameterization { complete_mue, plain_sum };

struct MoeShape {
  int experts = 8;  ///< N
  int active = 8;   ///< a
  int batch = 32;   ///< B (B·a must be a multiple of N)
  Routing routing = Routing::balanced;
  Parameterization parameterization = Parameterization::complete_mue;
};

struct ToyProblem {
  int dimension = 16;
  int train_samples = 32;  ///< small finite set, sampled with replacement: genuine minibatch noise
  double label_noise = 1.0;
  int test_samples = 1024;  ///< held-out inputs for the learned-router loss (no closed form there)
};

/// Per-expert factor on W_eᵀx for the balanced router: A·R·π with π = 1/a from the theory library
/// (Bridge I/II; equals 1/a), or 1 for the plain sum.
[[nodiscard]] double expert_output_weight(const MoeShape& shape, int dimension);

/// One toy MoE problem: teacher, training set and held-out inputs fixed by the seed alone (the same
/// for every (a, N) of a seed, so seeds pair across shapes). Keeps routing scratch space: use one
/// object per thread.
class ToyMoe {
 public:
  static constexpr double kBalanceRate = 0.01;  ///< balancing-bias step (auxiliary-loss-free balancing)

  /// Throws std::invalid_argument on a shape or problem it cannot train (non-positive sizes,
  /// a outside 1..N, B·a not a multiple of N).
  ToyMoe(const ToyProblem& problem, const MoeShape& shape, std::uint64_t seed);

  [[nodiscard]] Eigen::Index expert_parameter_count() const { return shape_.experts * problem_.dimension; }
  /// Expert weights (N × d, column e = W_e), then for the learned router the router weights (N × d).
  [[nodiscard]] Eigen::Index parameter_count() const {
    return (shape_.routing == Routing::learned_sigmoid ? 2 : 1) * expert_parameter_count();
  }

  /// Initial parameters: experts zero; router N(0, 1/d) (seeded, shared by all (a, N) of a seed).
  [[nodiscard]] Eigen::VectorXd initial_parameters() const;

  /// The minibatch loss (1/B) Σ_i ½(ŷ_i − y_i)² of step `step`, draw `draw` (the objective whose
  /// gradient gradient() returns; for the learned router at the routing selected with `bias`).
  [[nodiscard]] double minibatch_loss(const Eigen::VectorXd& flat, std::uint64_t step, std::uint64_t draw,
                                      const Eigen::VectorXd* bias = nullptr) const;

  /// Minibatch gradient at step `step` (draw `draw`). For the learned router `bias` is the balancing
  /// bias (selection only) and `load` receives the tokens per expert of this batch.
  void gradient(const Eigen::VectorXd& flat, std::uint64_t step, std::uint64_t draw, Eigen::VectorXd& out,
                const Eigen::VectorXd* bias = nullptr, Eigen::VectorXd* load = nullptr) const;

  /// Population loss E ½(ŷ − y)² for x ~ N(0, I): exact for the balanced router (averaged over batch
  /// positions), on the held-out inputs for the learned router.
  [[nodiscard]] double population_loss(const Eigen::VectorXd& flat, const Eigen::VectorXd* bias = nullptr) const;

  /// Trains for `steps` steps from initial_parameters(); returns the population loss (∞ on divergence).
  [[nodiscard]] double train(const OptimizerHyperparameters& hyper, long long steps) const;

  /// Per-expert gradient-noise std √(tr Cov g_e), averaged over experts, at parameters `flat`, from
  /// `batches` (≥ 2) independent minibatches; with a standard error over batches (delta method).
  /// `signal_norm` (optional) receives the per-expert norm of the mean gradient on the same scale.
  [[nodiscard]] std::pair<double, double> expert_noise_std(const Eigen::VectorXd& flat, std::uint64_t batches,
                                                           double* signal_norm) const;

 private:
  /// A·R for the learned router (π carries the normalization).
  [[nodiscard]] double route_factor() const { return weight_ * static_cast<double>(shape_.active); }
  /// Index of the training sample at batch position `i` of step `step`, draw `draw`.
  [[nodiscard]] Eigen::Index sample_index(std::uint64_t step, std::uint64_t draw, int i) const;
  /// Learned router: scores σ(r_eᵀx), the a experts with the largest σ + bias (ties by index).
  template <class Router, class Input>
  void route(const Router& router, const Input& x, const Eigen::VectorXd* bias) const;
  template <class Weights, class Input>
  double learned_prediction(const Weights& w, const Input& x) const;
  /// ŷ for input `x` at batch position `i` (balanced) or through the learned router.
  template <class Input>
  double predict(const Eigen::VectorXd& flat, const Input& x, int i, const Eigen::VectorXd* bias) const;

  ToyProblem problem_;
  MoeShape shape_;
  CounterRng rng_;
  double weight_;
  Eigen::VectorXd teacher_;
  Eigen::MatrixXd inputs_;
  Eigen::VectorXd targets_;
  Eigen::MatrixXd test_inputs_;
  mutable std::vector<double> scores_, outputs_;
  mutable std::vector<int> order_, selected_;
  mutable double score_sum_ = 1.0;
};

}  // namespace muelab::sim::sde
