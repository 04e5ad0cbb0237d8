// The fast path for Euler–Maruyama ensembles of the Adam SDE (docs/theory.md §7) on a noisy quadratic
// with diagonal curvature and diagonal noise — the system of the d = 64 benchmark (bench/sde).
// Same system and same scheme as AdamSde + EulerMaruyama<…, general_noise> (the tests check it
// step by step against them), but written for the machine:
//  * the Brownian increments come from BatchedNormalRng (Philox4x32-10 + a ziggurat whose fast
//    path is vectorized), keyed by (seed, stream, path, step, component) — thread-count independent;
//  * state is structure-of-arrays per path (x, m, u contiguous), paths advance in blocks of
//    kPathsPerBlock so the per-step scalars (bias corrections γ1, γ2) are computed once per block;
//  * no allocation and no Eigen temporaries inside the time loop;
//  * runtime dispatch: an AVX-512 (x86-64-v4), an AVX2 (x86-64-v3) and a baseline x86-64 build of
//    the same loop; all are compiled without FMA contraction, so they give the same bits.
//
// Euler–Maruyama on dX = a dt + G dW with state (X, m, u) (docs/theory.md §7):
//   a_X = −(√γ2/γ1) m / (η√max(u,0) + ε0√γ2) − λ̃X,  a_m = c1(h⊙X − m),  a_u = c2(diag Σ_B − u),
//   G dW = (0, c1 η diag(Σ_B)^{1/2} dW, 0),  γ_i = 1 − e^{−c_i t}  (a_X = −λ̃X at t = 0).
#pragma once

#include "muelab/sim/batched_normal_rng.hpp"
#include "muelab/sim/sde/optimizer_sdes.hpp"
#include "muelab/sim/sde/problems.hpp"

#include <Eigen/Core>

#include <cstddef>
#include <cstdint>
#include <string>

namespace muelab::sim::sde {

/// Which compiled variant of the hot loop runs. `automatic` picks the widest one the CPU supports.
enum class SimdLevel { automatic, baseline, avx2, avx512 };
[[nodiscard]] std::string simd_level_name(SimdLevel level);
[[nodiscard]] bool simd_level_supported(SimdLevel level);
[[nodiscard]] SimdLevel best_simd_level();

/// The Adam SDE of one discrete Adam/AdamW configuration on f = ½ Σ h_i x_i² with Σ_B diagonal.
struct DiagonalAdamSde {
  Eigen::VectorXd curvature;       ///< h
  Eigen::VectorXd noise_std;       ///< diag Σ_B^{1/2}
  Eigen::VectorXd batch_variance;  ///< diag Σ_B
  AdamSdeParameters parameters;

  /// Throws std::invalid_argument unless the model's minibatch covariance is diagonal.
  [[nodiscard]] static DiagonalAdamSde from(const NoisyQuadratic& model, const AdamSdeParameters& parameters);
  [[nodiscard]] Eigen::Index dimension() const { return curvature.size(); }
};

/// Final states of an ensemble, one row per path.
struct AdamSdeEnsembleState {
  Eigen::MatrixXd x, m, u;
  [[nodiscard]] Eigen::VectorXd losses(const Eigen::VectorXd& curvature) const;  ///< ½ Σ h_i x_i² per path
};

inline constexpr std::size_t kPathsPerBlock = 8;

/// Brownian increments of the fast path: dW(path, step) = √dt · fill_normal(·, d, path, step).
inline void adam_sde_increment(const BatchedNormalRng& rng, std::uint64_t path, std::uint64_t step, double dt,
                               double* out, std::size_t dimension) {
  rng.fill_normal(out, dimension, static_cast<std::uint32_t>(path), static_cast<std::uint32_t>(step), std::sqrt(dt));
}

/// `steps` Euler–Maruyama steps of size dt from (x0, 0, 0) for paths 0..paths−1, OpenMP-parallel
/// over blocks of paths (bit-identical for any thread count). paths and steps must be < 2^32.
[[nodiscard]] AdamSdeEnsembleState run_adam_sde_ensemble(const DiagonalAdamSde& system, const BatchedNormalRng& rng,
                                                         std::uint64_t paths, std::uint64_t steps, double dt,
                                                         const Eigen::VectorXd& x0,
                                                         SimdLevel level = SimdLevel::automatic);

/// The generator alone through the same dispatch (for tests and the benchmark's normals/s):
/// rng.fill_normal_paths(out, n, a, paths, b, scale) — out holds paths × n values.
void fill_batched_normals(const BatchedNormalRng& rng, double* out, std::size_t n, std::uint32_t a, std::uint32_t b,
                          double scale = 1.0, SimdLevel level = SimdLevel::automatic, std::size_t paths = 1);

}  // namespace muelab::sim::sde
