#include "expert_noise.hpp"

#include "muelab/models/cpu/model.hpp"
#include "muelab/models/cpu/optimizer.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace muelab::experiments::transformer {

std::map<theory::ParameterGroup, GroupNoise> expert_gradient_noise(const models::cpu::TrainRun& run,
                                                                   const models::cpu::TokenSource& data,
                                                                   std::int64_t warm_steps, std::int64_t batches) {
  using models::cpu::Model;
  const auto& m = run.target.model;
  const auto& tr = run.target.train;
  Model<float> model(models::cpu::make_model_spec(run.transfer, m, data.vocab_size(), tr.seq_len, run.architecture));
  model.initialize(run.trainer.seed);
  const auto hyper = models::cpu::group_hyperparameters(run.transfer);
  models::cpu::Optimizer<float> optimizer(run.transfer.optimizer, hyper);
  for (std::int64_t step = 0; step < warm_steps; ++step) {
    const auto batch = data.train_batch(run.trainer.seed, step, tr.batch_size, tr.seq_len);
    (void)model.forward(batch.tokens, batch.targets, tr.batch_size);
    model.backward();
    (void)optimizer.step(model.parameters(), run.schedule.factor(step));
    model.update_balance_bias();
  }
  const auto is_expert = [](theory::ParameterGroup g) {
    return g == theory::ParameterGroup::expert_up || g == theory::ParameterGroup::expert_gate ||
           g == theory::ParameterGroup::expert_down;
  };
  std::vector<std::size_t> expert_params;
  for (std::size_t i = 0; i < model.parameters().size(); ++i)
    if (is_expert(model.parameters()[i].group) && model.parameters()[i].trainable) expert_params.push_back(i);
  std::vector<std::vector<double>> sum(expert_params.size()), sum_sq(expert_params.size());
  for (std::size_t k = 0; k < expert_params.size(); ++k) {
    const auto n = static_cast<std::size_t>(model.parameters()[expert_params[k]].value.size());
    sum[k].assign(n, 0.0);
    sum_sq[k].assign(n, 0.0);
  }
  // Minibatches far from the training steps: independent draws at the same parameters.
  constexpr std::int64_t kNoiseStepOffset = 1'000'000'000;
  for (std::int64_t b = 0; b < batches; ++b) {
    const auto batch = data.train_batch(run.trainer.seed, kNoiseStepOffset + b, tr.batch_size, tr.seq_len);
    (void)model.forward(batch.tokens, batch.targets, tr.batch_size);
    model.backward();
    for (std::size_t k = 0; k < expert_params.size(); ++k) {
      const auto& g = model.parameters()[expert_params[k]].grad;
      const float* p = g.data();
      for (std::size_t c = 0; c < sum[k].size(); ++c) {
        const auto v = static_cast<double>(p[c]);
        sum[k][c] += v;
        sum_sq[k][c] += v * v;
      }
    }
  }
  struct Sums {
    double tr_cov = 0.0, mean_sq = 0.0;  // Σ over matrices of tr Cov and of ‖ḡ‖² − tr Cov / K
    std::size_t matrices = 0;
  };
  std::map<theory::ParameterGroup, Sums> by_group;
  const auto kb = static_cast<double>(batches);
  for (std::size_t k = 0; k < expert_params.size(); ++k) {
    double tr_cov = 0.0, mean_norm_sq = 0.0;
    for (std::size_t c = 0; c < sum[k].size(); ++c) {
      tr_cov += (sum_sq[k][c] - sum[k][c] * sum[k][c] / kb) / (kb - 1.0);
      mean_norm_sq += (sum[k][c] / kb) * (sum[k][c] / kb);
    }
    auto& t = by_group[model.parameters()[expert_params[k]].group];
    t.tr_cov += tr_cov;
    t.mean_sq += mean_norm_sq - tr_cov / kb;  // E‖ḡ‖² = ‖E g‖² + tr Cov / K
    t.matrices += 1;
  }
  std::map<theory::ParameterGroup, GroupNoise> out;
  const auto own_token_scale = static_cast<double>(m.n_experts);
  for (const auto& [group, t] : by_group) {
    GroupNoise n;
    const auto matrices = static_cast<double>(t.matrices);
    n.sigma_g = own_token_scale * std::sqrt(t.tr_cov / matrices);
    n.signal = t.mean_sq > 0.0 ? own_token_scale * std::sqrt(t.mean_sq / matrices) : std::numeric_limits<double>::quiet_NaN();
    n.lr = hyper.at(group).lr;
    out[group] = n;
  }
  return out;
}

}  // namespace muelab::experiments::transformer
