#include "expert_noise.hpp"

#include "muelab/models/cpu/model.hpp"
#include "muelab/models/cpu/optimizer.hpp"

#include <cmath>
#include <limits>
#include <memory>
#include <vector>

namespace muelab::experiments::transformer {

std::unique_ptr<models::cpu::Model<float>> warmed_up_model(const models::cpu::TrainRun& run,
                                                           const models::cpu::TokenSource& data, std::int64_t warm_steps) {
  const auto& tr = run.target.train;
  auto model = std::make_unique<models::cpu::Model<float>>(
      models::cpu::make_model_spec(run.transfer, run.target.model, data.vocab_size(), tr.seq_len, run.architecture));
  model->initialize(run.trainer.seed);
  models::cpu::Optimizer<float> optimizer(run.transfer.optimizer, models::cpu::group_hyperparameters(run.transfer));
  for (std::int64_t step = 0; step < warm_steps; ++step) {
    const auto batch = data.train_batch(run.trainer.seed, step, tr.batch_size, tr.seq_len);
    (void)model->forward(batch.tokens, batch.targets, tr.batch_size);
    model->backward();
    (void)optimizer.step(model->parameters(), run.schedule.factor(step));
    model->update_balance_bias();
  }
  return model;
}

GradientMoments gradient_moments(models::cpu::Model<float>& model, const models::cpu::TokenSource& data,
                                 std::uint64_t seed, std::int64_t batch, std::int64_t seq_len, std::int64_t draws,
                                 const std::vector<std::size_t>& params) {
  constexpr std::int64_t kNoiseStepOffset = 1'000'000'000;  // far from the training steps: independent draws
  GradientMoments m;
  m.draws = draws;
  m.params = params;
  m.sum.resize(params.size());
  m.sum_sq.resize(params.size());
  for (std::size_t k = 0; k < params.size(); ++k) {
    m.sum[k].assign(static_cast<std::size_t>(model.parameters()[params[k]].value.size()), 0.0);
    m.sum_sq[k].assign(m.sum[k].size(), 0.0);
  }
  for (std::int64_t b = 0; b < draws; ++b) {
    const auto minibatch = data.train_batch(seed, kNoiseStepOffset + b, batch, seq_len);
    (void)model.forward(minibatch.tokens, minibatch.targets, batch);
    model.backward();
    for (std::size_t k = 0; k < params.size(); ++k) {
      const float* g = model.parameters()[params[k]].grad.data();
      for (std::size_t c = 0; c < m.sum[k].size(); ++c) {
        const auto v = static_cast<double>(g[c]);
        m.sum[k][c] += v;
        m.sum_sq[k][c] += v * v;
      }
    }
  }
  return m;
}

double whole_gradient_noise_std(const GradientMoments& m) {
  double variance = 0.0;
  std::size_t entries = 0;
  const auto n = static_cast<double>(m.draws);
  for (std::size_t k = 0; k < m.sum.size(); ++k)
    for (std::size_t c = 0; c < m.sum[k].size(); ++c) {
      variance += (m.sum_sq[k][c] - m.sum[k][c] * m.sum[k][c] / n) / (n - 1.0);
      ++entries;
    }
  return std::sqrt(variance / static_cast<double>(entries));
}

std::map<theory::ParameterGroup, GroupNoise> expert_gradient_noise(const models::cpu::TrainRun& run,
                                                                   const models::cpu::TokenSource& data,
                                                                   std::int64_t warm_steps, std::int64_t batches) {
  const auto model = warmed_up_model(run, data, warm_steps);
  const auto hyper = models::cpu::group_hyperparameters(run.transfer);
  const auto is_expert = [](theory::ParameterGroup g) {
    return g == theory::ParameterGroup::expert_up || g == theory::ParameterGroup::expert_gate ||
           g == theory::ParameterGroup::expert_down;
  };
  std::vector<std::size_t> expert_params;
  for (std::size_t i = 0; i < model->parameters().size(); ++i)
    if (is_expert(model->parameters()[i].group) && model->parameters()[i].trainable) expert_params.push_back(i);
  const auto& tr = run.target.train;
  const auto moments = gradient_moments(*model, data, run.trainer.seed, tr.batch_size, tr.seq_len, batches, expert_params);
  const auto& sum = moments.sum;
  const auto& sum_sq = moments.sum_sq;
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
    auto& t = by_group[model->parameters()[expert_params[k]].group];
    t.tr_cov += tr_cov;
    t.mean_sq += mean_norm_sq - tr_cov / kb;  // E‖ḡ‖² = ‖E g‖² + tr Cov / K
    t.matrices += 1;
  }
  std::map<theory::ParameterGroup, GroupNoise> out;
  const auto own_token_scale = static_cast<double>(run.target.model.n_experts);
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
