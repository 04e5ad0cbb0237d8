// A Brownian path that can be re-queried at coarser steps (docs/theory.md §7: "a Brownian path that can
// be re-queried at a coarser dt, needed for strong-order tests"). The path is defined by its fine
// increments ΔW_j ~ N(0, fine_dt·I), j = 0, 1, ..., each drawn from the counter-based RNG keyed by
// (path, j): the increment over coarse step k with stride s is Σ_{j=ks}^{ks+s-1} ΔW_j, so the same
// path is seen at dt and 2·dt, by any thread, in any order. The normals are the ziggurat normals of
// ziggurat_normal.hpp (keyed by (path, j)), the hot loop of every ensemble (bench/sde).
#pragma once

#include "muelab/sim/counter_rng.hpp"
#include "muelab/sim/sde/ziggurat_normal.hpp"

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <stdexcept>

namespace muelab::sim::sde {

class BrownianPath {
 public:
  /// `stride` fine steps make one coarse step; `fine_dt` is the finest resolution of the path.
  BrownianPath(const CounterRng& rng, std::uint64_t path, Eigen::Index dimension, double fine_dt,
               std::uint64_t stride = 1)
      : rng_(rng), path_(path), dimension_(dimension), fine_dt_(fine_dt), stride_(stride),
        sqrt_fine_dt_(std::sqrt(fine_dt)), fine_(dimension) {
    if (dimension <= 0) throw std::invalid_argument("BrownianPath: dimension must be positive");
    if (!(fine_dt > 0.0)) throw std::invalid_argument("BrownianPath: fine_dt must be positive");
    if (stride == 0) throw std::invalid_argument("BrownianPath: stride must be at least 1");
  }

  [[nodiscard]] Eigen::Index dimension() const { return dimension_; }
  [[nodiscard]] double fine_step() const { return fine_dt_; }
  [[nodiscard]] std::uint64_t stride() const { return stride_; }
  [[nodiscard]] double step_size() const { return fine_dt_ * static_cast<double>(stride_); }
  [[nodiscard]] std::uint64_t path_index() const { return path_; }

  /// The same path seen with a different stride (e.g. 2·dt); restarts at coarse step 0.
  [[nodiscard]] BrownianPath with_stride(std::uint64_t stride) const {
    return BrownianPath(rng_, path_, dimension_, fine_dt_, stride);
  }

  /// W(t_{(k+1)s}) − W(t_{ks}) for coarse step k (s = stride).
  template <class Vector>
  void increment(std::uint64_t coarse_step, Vector& out) const {
    const std::uint64_t first = coarse_step * stride_;
    if (stride_ == 1) {
      fill_ziggurat_normal(rng_, path_, first, out, sqrt_fine_dt_);
      return;
    }
    out.setZero();
    for (std::uint64_t j = first; j < first + stride_; ++j) {
      fill_ziggurat_normal(rng_, path_, j, fine_);
      out += fine_;
    }
    out *= sqrt_fine_dt_;
  }

  /// Two-point ±1 auxiliary variable (independent of W) for weak schemes' V_{r,j} terms.
  [[nodiscard]] double auxiliary_sign(std::uint64_t coarse_step, std::uint64_t index) const {
    return rng_.uniform(path_, coarse_step * stride_, 1, index) < 0.5 ? -1.0 : 1.0;
  }

  /// Sequential use by a stepper: the increment of the next coarse step.
  template <class Vector>
  void next(Vector& out) {
    increment(step_, out);
    ++step_;
  }
  [[nodiscard]] std::uint64_t current_step() const { return step_; }
  void restart(std::uint64_t coarse_step = 0) { step_ = coarse_step; }

 private:
  CounterRng rng_;
  std::uint64_t path_;
  Eigen::Index dimension_;
  double fine_dt_;
  std::uint64_t stride_;
  double sqrt_fine_dt_;
  mutable Eigen::VectorXd fine_;
  std::uint64_t step_ = 0;
};

}  // namespace muelab::sim::sde
