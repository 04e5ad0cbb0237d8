// Optimizers with per-parameter-group hyperparameters from the transfer engine (docs/theory.md §1–§4):
// AdamW with PyTorch-coupled weight decay (θ ← θ − ηλθ − η·m̂/(√v̂ + ε)), Adam (L2 added to the
// gradient, as torch.optim.Adam) and SGD with momentum (buf ← β1·buf + g + λθ; θ ← θ − η·buf).
// The schedule factor multiplies every group's η (and hence ηλ).
#pragma once

#include "muelab/models/core/schedule.hpp"
#include "muelab/models/cpu/model.hpp"
#include "muelab/models/cpu/vector_kernels.hpp"
#include "muelab/models/shared/kernels.hpp"

#include <cmath>
#include <map>

namespace muelab::models::cpu {

using models::group_hyperparameters;
using models::GroupHyperparameters;
using models::Schedule;

template <class Scalar>
class Optimizer {
 public:
  Optimizer(theory::OptimizerKind kind, std::map<ParameterGroup, GroupHyperparameters> groups)
      : kind_(kind), groups_(std::move(groups)) {}

  /// One step on every trainable parameter; returns the RMS of the update Δθ per group.
  std::map<ParameterGroup, double> step(std::vector<Parameter<Scalar>>& parameters, double schedule_factor) {
    if (first_.empty()) {
      for (const auto& p : parameters) {
        first_.push_back(Matrix<Scalar>::Zero(p.value.rows(), p.value.cols()));
        second_.push_back(kind_ == theory::OptimizerKind::sgd ? Matrix<Scalar>() : Matrix<Scalar>::Zero(p.value.rows(), p.value.cols()));
      }
    }
    ++steps_;
    std::map<ParameterGroup, std::pair<double, double>> sums;  // Σ Δθ², count
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      auto& p = parameters[i];
      if (!p.trainable) continue;
      const auto& h = groups_.at(p.group);
      const double lr = h.lr * schedule_factor;
      const double wd = h.weight_decay;
      auto* theta = p.value.data();
      const auto* g = p.grad.data();
      auto* m = first_[i].data();
      double sum = 0.0;
      const auto n = p.value.size();
      if (kind_ == theory::OptimizerKind::sgd) {
        for (Eigen::Index k = 0; k < n; ++k) {
          const double delta = shared::sgd_element(theta[k], m[k], g[k], lr, wd, h.beta1);
          sum += delta * delta;
        }
      } else {
        auto* v = second_[i].data();
        const double step = static_cast<double>(steps_);
        const shared::AdamStep constants{lr, wd, h.eps, h.beta1, h.beta2, 1.0 - std::pow(h.beta1, step),
                                         1.0 - std::pow(h.beta2, step), kind_ == theory::OptimizerKind::adamw};
        sum = vk::adam_update(theta, m, v, g, n, constants);
      }
      auto& s = sums[p.group];
      s.first += sum;
      s.second += static_cast<double>(n);
    }
    std::map<ParameterGroup, double> rms;
    for (const auto& [group, s] : sums) rms[group] = std::sqrt(s.first / std::max(1.0, s.second));
    return rms;
  }

 private:
  theory::OptimizerKind kind_;
  std::map<ParameterGroup, GroupHyperparameters> groups_;
  std::vector<Matrix<Scalar>> first_, second_;
  std::int64_t steps_ = 0;
};

}  // namespace muelab::models::cpu
