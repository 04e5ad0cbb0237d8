// CUDA training loop (see trainer.hpp); mirrors models/cpu/src/trainer.cpp row for row.
#include "muelab/models/cuda/trainer.hpp"

#include "muelab/models/cuda/device.hpp"
#include "muelab/models/cuda/model.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>

namespace muelab::models::cuda {

namespace {

std::string number(double v) { return fmt::format("{:.9g}", v); }

template <class T>
cpu::TrainSummary train_impl(const cpu::TrainRun& run, const cpu::TokenSource& data, const std::filesystem::path& out_dir,
                             const std::string& device) {
  const auto& m = run.target.model;
  const auto& tr = run.target.train;
  Model<T> model(cpu::make_model_spec(run.transfer, m, data.vocab_size(), tr.seq_len, run.architecture));
  model.initialize(run.trainer.seed);
  const auto hyper = cpu::group_hyperparameters(run.transfer);
  const auto groups = theory::groups_present(m);

  std::filesystem::create_directories(out_dir);
  cpu::write_text_atomically(out_dir / "resolved_config.toml", run.resolved_toml);
  cpu::write_text_atomically(out_dir / "hyperparameters.json", cpu::hyperparameters_json_text(run));

  std::vector<std::string> columns = {"step", "tokens", "train_loss", "lr", "grad_norm"};
  for (const auto g : groups) columns.push_back("update_rms_" + theory::group_name(g));
  for (std::int64_t l = 0; l < m.n_layers; ++l) columns.push_back(fmt::format("act_rms_l{}", l));
  if (m.is_moe())
    for (std::int64_t l = 0; l < m.n_layers; ++l)
      for (std::int64_t e = 0; e < m.n_experts; ++e) columns.push_back(fmt::format("load_l{}_e{}", l, e));
  if (m.is_moe()) columns.push_back("max_load_deviation");
  columns.push_back("val_loss");
  std::ofstream log(out_dir / "log.csv");
  for (std::size_t i = 0; i < columns.size(); ++i) log << (i ? "," : "") << columns[i];
  log << "\n" << std::flush;

  const double kappa = m.is_moe() ? static_cast<double>(m.n_active) / static_cast<double>(m.n_experts) : 0.0;
  const auto validation_loss = [&] {
    double total = 0.0;
    for (std::int64_t i = 0; i < run.trainer.eval_batches; ++i) {
      const auto b = data.validation_batch(run.trainer.seed, i, tr.batch_size, tr.seq_len);
      total += model.forward(b.tokens, b.targets, tr.batch_size).ce_loss;
    }
    return total / static_cast<double>(run.trainer.eval_batches);
  };

  cpu::TrainSummary summary;
  summary.best_validation_loss = std::numeric_limits<double>::infinity();
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t step = 0; step < tr.steps; ++step) {
    const auto batch = data.train_batch(run.trainer.seed, step, tr.batch_size, tr.seq_len);
    const auto stats = model.forward(batch.tokens, batch.targets, tr.batch_size);
    model.backward();
    const double grad_norm = model.grad_norm();
    const double factor = run.schedule.factor(step);
    const bool finite = std::isfinite(stats.loss) && std::isfinite(grad_norm);
    if (finite) {
      model.step(run.transfer.optimizer, hyper, factor);
      model.update_balance_bias();
    }
    std::vector<std::string> row = {std::to_string(step),
                                    fmt::format("{}", static_cast<std::int64_t>(tr.tokens_per_step()) * (step + 1)),
                                    number(stats.loss), number(run.transfer.global.lr.value() * factor), number(grad_norm)};
    for (std::size_t g = 0; g < groups.size(); ++g) row.emplace_back();  // update RMS: CPU backend only
    for (const double r : stats.residual_rms) row.push_back(number(r));
    if (m.is_moe()) {
      double worst = 0.0;
      for (const auto& layer : stats.load)
        for (const double load : layer) {
          row.push_back(number(load));
          worst = std::max(worst, std::abs(load - kappa));
        }
      row.push_back(number(worst));
    }
    summary.steps_done = step + 1;
    summary.final_train_loss = stats.loss;
    std::string val;
    if (!finite) {
      summary.status = "diverged";
      summary.diverged_step = step;
    } else if ((step + 1) % run.trainer.eval_interval == 0 || step + 1 == tr.steps) {
      const double v = validation_loss();
      val = number(v);
      summary.final_validation_loss = v;
      if (std::isfinite(v)) summary.best_validation_loss = std::min(summary.best_validation_loss, v);
    }
    row.push_back(val);
    for (std::size_t i = 0; i < row.size(); ++i) log << (i ? "," : "") << row[i];
    log << "\n" << std::flush;
    if (!finite) break;
  }
  summary.wall_time_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.tokens_per_s =
      tr.tokens_per_step() * static_cast<double>(summary.steps_done) / std::max(1e-9, summary.wall_time_s);
  cpu::write_text_atomically(out_dir / "summary.json", cpu::summary_json_text(run, summary, data, device));
  return summary;
}

}  // namespace

cpu::TrainSummary train(const cpu::TrainRun& run, const cpu::TokenSource& data, const std::filesystem::path& out_dir) {
  const auto status = query_device();
  if (!status.usable) throw CudaError(status.message);
  return run.trainer.double_precision ? train_impl<double>(run, data, out_dir, status.message)
                                      : train_impl<float>(run, data, out_dir, status.message);
}

}  // namespace muelab::models::cuda
