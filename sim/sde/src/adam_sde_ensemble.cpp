// The Adam-SDE Euler–Maruyama ensemble hot loop (see adam_sde_ensemble.hpp; docs/theory.md §7), compiled
// three times (x86-64-v4 / v3 / baseline) and dispatched at run time. This file is compiled with
// -O3 -ffp-contract=off -fno-math-errno (sim/sde/CMakeLists.txt): vectorized, no FMA contraction
// (so every variant gives the same bits), and sqrt without the errno branch.
#include "muelab/sim/sde/adam_sde_ensemble.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace muelab::sim::sde {

namespace {

/// Everything the time loop reads, as raw arrays (no Eigen in the hot loop).
struct KernelInput {
  const double* curvature;
  const double* batch_variance;
  const double* diffusion;  ///< c1 η diag(Σ_B)^{1/2}: the m-row of G
  std::size_t dimension;
  AdamSdeParameters parameters;
  double dt;
  std::uint64_t steps;
  const BatchedNormalRng* rng;
};

/// State of one block of paths: x, m, u, each `dimension` long, per path, and `dw`, the block's
/// increments of one step (paths × `dimension`): generated and consumed at once, so the normals stay
/// in L1 and never travel through an all-paths array.
struct BlockState {
  double* x;
  double* m;
  double* u;
  double* dw;
  std::size_t paths;
};

/// Per-step scalars of the drift (docs/theory.md §7): −√γ2/γ1 and ε0√γ2. At t = 0 (γ1 = 0, m = 0) the
/// bias-corrected term is absent, as in AdamSde::drift: `has_momentum_term` is false.
struct StepScalars {
  double minus_ratio;
  double eps_term;
  bool has_momentum_term;
};

inline StepScalars step_scalars(const AdamSdeParameters& p, double t) {
  const double gamma1 = p.bias_correction ? -std::expm1(-p.c1 * t) : 1.0;
  const double gamma2 = p.bias_correction ? -std::expm1(-p.c2 * t) : 1.0;
  const double sqrt_gamma2 = std::sqrt(gamma2);
  const bool has_momentum_term = gamma1 > 0.0;
  return {has_momentum_term ? -(sqrt_gamma2 / gamma1) : 0.0, p.eps0 * sqrt_gamma2, has_momentum_term};
}

/// One Euler–Maruyama step of one path (docs/theory.md §7 drift and diffusion, see the header).
/// Restrict-qualified parameters and scalars by value: GCC then vectorizes the loop without
/// run-time alias checks (7 streams exceed its check budget).
template <bool kMomentumTerm>
[[gnu::always_inline]] inline void euler_maruyama_step(std::size_t d, double dt, double lr, double wd, double c1,
                                                       double c2, double minus_ratio, double eps_term,
                                                       const double* __restrict h, const double* __restrict v,
                                                       const double* __restrict g, double* __restrict x,
                                                       double* __restrict m, double* __restrict u,
                                                       const double* __restrict dw) {
  for (std::size_t i = 0; i < d; ++i) {
    double drift_x = -wd * x[i];
    if constexpr (kMomentumTerm) {
      const double preconditioner = lr * std::sqrt(std::max(u[i], 0.0)) + eps_term;
      drift_x = minus_ratio * (m[i] / preconditioner) - wd * x[i];
    }
    const double drift_m = c1 * (h[i] * x[i] - m[i]);
    const double drift_u = c2 * (v[i] - u[i]);
    x[i] += dt * drift_x;
    m[i] += dt * drift_m + g[i] * dw[i];
    u[i] += dt * drift_u;
  }
}

// The loop body shared by all variants; always_inline so that each target-specific wrapper
// vectorizes it for its own instruction set.
template <philox4x32::BijectionFunction kBijection, ziggurat::FastPathFunction kFastPath>
[[gnu::always_inline]] inline void advance_block(const KernelInput& in, std::uint64_t first_path, BlockState& s) {
  const std::size_t d = in.dimension;
  const double dt = in.dt;
  for (std::uint64_t k = 0; k < in.steps; ++k) {
    const StepScalars scalars = step_scalars(in.parameters, static_cast<double>(k) * dt);
    // adam_sde_increment for every path of the block at once, with this variant's Philox and
    // ziggurat fast path (the same numbers as one path at a time; see fill_normal_paths).
    in.rng->fill_normal_paths<kBijection, kFastPath>(s.dw, d, static_cast<std::uint32_t>(first_path), s.paths,
                                                     static_cast<std::uint32_t>(k), std::sqrt(dt));
    for (std::size_t p = 0; p < s.paths; ++p) {
      double* x = s.x + p * d;
      double* m = s.m + p * d;
      double* u = s.u + p * d;
      const double* dw = s.dw + p * d;
      const AdamSdeParameters& q = in.parameters;
      if (scalars.has_momentum_term)
        euler_maruyama_step<true>(d, dt, q.lr, q.wd_rate, q.c1, q.c2, scalars.minus_ratio, scalars.eps_term,
                                  in.curvature, in.batch_variance, in.diffusion, x, m, u, dw);
      else
        euler_maruyama_step<false>(d, dt, q.lr, q.wd_rate, q.c1, q.c2, scalars.minus_ratio, scalars.eps_term,
                                   in.curvature, in.batch_variance, in.diffusion, x, m, u, dw);
    }
  }
}

template <philox4x32::BijectionFunction kBijection, ziggurat::FastPathFunction kFastPath>
[[gnu::always_inline]] inline void fill_body(const BatchedNormalRng& rng, double* out, std::size_t n, std::uint32_t a,
                                             std::uint32_t b, double scale, std::size_t paths) {
  rng.fill_normal_paths<kBijection, kFastPath>(out, n, a, paths, b, scale);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define MUELAB_HAVE_X86_VARIANTS 1
[[gnu::flatten, gnu::target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,bmi2")]] void
advance_block_avx512(const KernelInput& in, std::uint64_t first_path, BlockState& s) {
  advance_block<philox4x32::bijection_avx512, ziggurat::fast_path_avx512>(in, first_path, s);
}
[[gnu::flatten, gnu::target("avx2,fma,bmi2")]] void advance_block_avx2(const KernelInput& in,
                                                                                  std::uint64_t first_path,
                                                                                  BlockState& s) {
  advance_block<philox4x32::bijection_avx2, ziggurat::fast_path_avx2>(in, first_path, s);
}
[[gnu::flatten, gnu::target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma,bmi2")]] void fill_avx512(
    const BatchedNormalRng& rng, double* out, std::size_t n, std::uint32_t a, std::uint32_t b, double scale,
    std::size_t paths) {
  fill_body<philox4x32::bijection_avx512, ziggurat::fast_path_avx512>(rng, out, n, a, b, scale, paths);
}
[[gnu::flatten, gnu::target("avx2,fma,bmi2")]] void fill_avx2(const BatchedNormalRng& rng, double* out, std::size_t n,
                                                              std::uint32_t a, std::uint32_t b, double scale,
                                                              std::size_t paths) {
  fill_body<philox4x32::bijection_avx2, ziggurat::fast_path_avx2>(rng, out, n, a, b, scale, paths);
}
#endif
[[gnu::flatten]] void advance_block_baseline(const KernelInput& in, std::uint64_t first_path, BlockState& s) {
  advance_block<philox4x32::bijection, ziggurat::fast_path>(in, first_path, s);
}
[[gnu::flatten]] void fill_baseline(const BatchedNormalRng& rng, double* out, std::size_t n, std::uint32_t a,
                                    std::uint32_t b, double scale, std::size_t paths) {
  fill_body<philox4x32::bijection, ziggurat::fast_path>(rng, out, n, a, b, scale, paths);
}

SimdLevel resolve(SimdLevel level) {
  if (level == SimdLevel::automatic) return best_simd_level();
  if (!simd_level_supported(level))
    throw std::invalid_argument("simd level: " + simd_level_name(level) + " is not supported by this CPU");
  return level;
}

}  // namespace

std::string simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::automatic: return "automatic";
    case SimdLevel::baseline: return "baseline";
    case SimdLevel::avx2: return "avx2";
    case SimdLevel::avx512: return "avx512";
  }
  return "unknown";
}

bool simd_level_supported(SimdLevel level) {
  switch (level) {
    case SimdLevel::automatic:
    case SimdLevel::baseline: return true;
#ifdef MUELAB_HAVE_X86_VARIANTS
    case SimdLevel::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2");
    case SimdLevel::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
             simd_level_supported(SimdLevel::avx2);
#else
    case SimdLevel::avx2:
    case SimdLevel::avx512: return false;
#endif
  }
  return false;
}

SimdLevel best_simd_level() {
  if (simd_level_supported(SimdLevel::avx512)) return SimdLevel::avx512;
  if (simd_level_supported(SimdLevel::avx2)) return SimdLevel::avx2;
  return SimdLevel::baseline;
}

DiagonalAdamSde DiagonalAdamSde::from(const NoisyQuadratic& model, const AdamSdeParameters& parameters) {
  const Eigen::MatrixXd covariance = model.batch_covariance();
  if (!covariance.isDiagonal(0.0))
    throw std::invalid_argument("DiagonalAdamSde: the model's noise covariance must be diagonal");
  DiagonalAdamSde system;
  system.curvature = model.curvature();
  system.batch_variance = covariance.diagonal();
  system.noise_std = system.batch_variance.cwiseSqrt();
  system.parameters = parameters;
  return system;
}

Eigen::VectorXd AdamSdeEnsembleState::losses(const Eigen::VectorXd& curvature) const {
  Eigen::VectorXd out(x.rows());
  for (Eigen::Index p = 0; p < x.rows(); ++p) {
    double sum = 0.0;
    for (Eigen::Index i = 0; i < x.cols(); ++i) sum += curvature[i] * x(p, i) * x(p, i);
    out[p] = 0.5 * sum;
  }
  return out;
}

AdamSdeEnsembleState run_adam_sde_ensemble(const DiagonalAdamSde& system, const BatchedNormalRng& rng,
                                           std::uint64_t paths, std::uint64_t steps, double dt,
                                           const Eigen::VectorXd& x0, SimdLevel level) {
  const auto d = static_cast<std::size_t>(system.dimension());
  if (d == 0) throw std::invalid_argument("run_adam_sde_ensemble: dimension must be positive");
  if (d >= BatchedNormalRng::kMaxNormals) throw std::invalid_argument("dimension: must be below 2^24");
  if (system.batch_variance.size() != system.curvature.size() || system.noise_std.size() != system.curvature.size())
    throw std::invalid_argument("run_adam_sde_ensemble: curvature, noise_std and batch_variance differ in length");
  if (x0.size() != system.curvature.size()) throw std::invalid_argument("run_adam_sde_ensemble: x0 has the wrong length");
  if (paths == 0 || paths > std::numeric_limits<std::uint32_t>::max())
    throw std::invalid_argument("paths: must be in [1, 2^32)");
  if (steps > std::numeric_limits<std::uint32_t>::max()) throw std::invalid_argument("steps: must be below 2^32");
  if (!(dt > 0.0)) throw std::invalid_argument("dt: must be positive");
  const SimdLevel variant = resolve(level);

  const Eigen::VectorXd diffusion = (system.parameters.c1 * system.parameters.lr) * system.noise_std;
  const KernelInput input{system.curvature.data(), system.batch_variance.data(), diffusion.data(), d,
                          system.parameters,       dt,                          steps,            &rng};
  // Each block of kPathsPerBlock paths lives in its thread's scratch (x, m, u row-major path ×
  // component, then the block's increments) from its initial state to its final one, which it writes
  // into its rows of the result: nothing serial but the allocation of the result.
  const auto rows = static_cast<Eigen::Index>(paths), cols = static_cast<Eigen::Index>(d);
  AdamSdeEnsembleState result;
  result.x.resize(rows, cols);
  result.m.resize(rows, cols);
  result.u.resize(rows, cols);
  const auto blocks = static_cast<long long>((paths + kPathsPerBlock - 1) / kPathsPerBlock);
  // Every thread's scratch is allocated here, outside the parallel region (an allocation failure inside
  // it would terminate the program instead of throwing).
  // One allocation per thread, not slices of one block: malloc aligns to 16 bytes, so two slices shared
  // a cache line at their boundary, which both threads wrote every step (1 -> 2 threads 1.69-1.80x with
  // slices against 2.04-2.07x with separate allocations, 4096 paths, interleaved, 2026-12-06;
  // bench/sde/results.md).
  const std::size_t scratch_size = 4 * kPathsPerBlock * d;
  std::vector<std::vector<double>> scratches(static_cast<std::size_t>(omp_get_max_threads()),
                                             std::vector<double>(scratch_size));
#pragma omp parallel
  {
    double* const scratch = scratches[static_cast<std::size_t>(omp_get_thread_num())].data();
#pragma omp for schedule(static)
    for (long long block = 0; block < blocks; ++block) {
      const auto first = static_cast<std::uint64_t>(block) * kPathsPerBlock;
      const auto count = static_cast<std::size_t>(std::min<std::uint64_t>(kPathsPerBlock, paths - first));
      BlockState state{scratch, scratch + kPathsPerBlock * d, scratch + 2 * kPathsPerBlock * d,
                       scratch + 3 * kPathsPerBlock * d, count};
      for (std::size_t p = 0; p < count; ++p)
        for (std::size_t i = 0; i < d; ++i) {
          state.x[p * d + i] = x0[static_cast<Eigen::Index>(i)];
          state.m[p * d + i] = 0.0;
          state.u[p * d + i] = 0.0;
        }
      switch (variant) {
#ifdef MUELAB_HAVE_X86_VARIANTS
        case SimdLevel::avx512: advance_block_avx512(input, first, state); break;
        case SimdLevel::avx2: advance_block_avx2(input, first, state); break;
#endif
        default: advance_block_baseline(input, first, state); break;
      }
      for (std::size_t i = 0; i < d; ++i)
        for (std::size_t p = 0; p < count; ++p) {
          const auto row = static_cast<Eigen::Index>(first + p), col = static_cast<Eigen::Index>(i);
          result.x(row, col) = state.x[p * d + i];
          result.m(row, col) = state.m[p * d + i];
          result.u(row, col) = state.u[p * d + i];
        }
    }
  }
  return result;
}

void fill_batched_normals(const BatchedNormalRng& rng, double* out, std::size_t n, std::uint32_t a, std::uint32_t b,
                          double scale, SimdLevel level, std::size_t paths) {
  if (n >= BatchedNormalRng::kMaxNormals) throw std::invalid_argument("n: must be below 2^24");
  if (paths > std::uint64_t{1} << 32 || a > (std::uint64_t{1} << 32) - paths)
    throw std::invalid_argument("paths: a + paths must not exceed 2^32");
  switch (resolve(level)) {
#ifdef MUELAB_HAVE_X86_VARIANTS
    case SimdLevel::avx512: fill_avx512(rng, out, n, a, b, scale, paths); break;
    case SimdLevel::avx2: fill_avx2(rng, out, n, a, b, scale, paths); break;
#endif
    default: fill_baseline(rng, out, n, a, b, scale, paths); break;
  }
}

}  // namespace muelab::sim::sde
