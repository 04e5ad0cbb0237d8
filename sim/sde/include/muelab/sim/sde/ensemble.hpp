// Ensembles of independent paths run in parallel with OpenMP. Every path writes its observables
// into its own row; the moments are reduced serially in path order afterwards, so together with
// the counter-based RNG keyed by (seed, path, step) the result is bit-identical for any thread
// count (developers' guide: determinism).
#pragma once

#include <Eigen/Core>

#include <cmath>
#include <cstdint>

namespace muelab::sim::sde {

struct EnsembleMoments {
  Eigen::VectorXd mean;
  Eigen::VectorXd standard_error;  ///< sample standard deviation / √paths
  Eigen::MatrixXd per_path;        ///< one row per path, one column per observable
};

/// Moments of the columns of a per-path table, reduced in path order.
inline EnsembleMoments moments_of(Eigen::MatrixXd per_path) {
  EnsembleMoments result;
  const auto n = per_path.rows();
  result.mean = Eigen::VectorXd::Zero(per_path.cols());
  result.standard_error = Eigen::VectorXd::Zero(per_path.cols());
  for (Eigen::Index i = 0; i < n; ++i) result.mean += per_path.row(i).transpose();
  result.mean /= static_cast<double>(n);
  if (n > 1) {
    for (Eigen::Index i = 0; i < n; ++i)
      result.standard_error += (per_path.row(i).transpose() - result.mean).cwiseAbs2();
    result.standard_error =
        (result.standard_error / static_cast<double>(n - 1) / static_cast<double>(n)).cwiseSqrt();
  }
  result.per_path = std::move(per_path);
  return result;
}

/// Runs `observe(path, row)` for every path (row is an Eigen row block of `observables` cells) in
/// parallel and returns the moments. `observe` must depend on `path` only (not on the thread).
template <class Observe>
EnsembleMoments run_ensemble(std::uint64_t paths, Eigen::Index observables, Observe&& observe) {
  Eigen::MatrixXd per_path(static_cast<Eigen::Index>(paths), observables);
  const auto n = static_cast<long long>(paths);
#pragma omp parallel for schedule(dynamic, 1)
  for (long long p = 0; p < n; ++p) {
    Eigen::VectorXd row(observables);
    observe(static_cast<std::uint64_t>(p), row);
    per_path.row(static_cast<Eigen::Index>(p)) = row.transpose();
  }
  return moments_of(std::move(per_path));
}

}  // namespace muelab::sim::sde
