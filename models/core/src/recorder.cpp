// The shared outputs of a training run (see recorder.hpp). log.csv is streamed row by row (flushed),
// so a divergence or a kill keeps every row written so far; the other files are written atomically.
#include "muelab/models/core/recorder.hpp"

#include "muelab/io/atomic_file.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <fstream>

namespace muelab::models {

namespace {

std::string number(double v) { return fmt::format("{:.9g}", v); }

nlohmann::json hyperparameters_json(const TrainRun& run) {
  nlohmann::json j;
  j["rule"] = theory::rule_name(run.rule);
  j["residual_multiplier"] = run.transfer.architecture.residual_multiplier.value();
  j["attention_logit_scale"] = run.transfer.architecture.attention_logit_scale;
  if (run.transfer.moe) {
    j["moe"] = {{"output_multiplier_A", run.transfer.moe->output_multiplier},
                {"route_scale_routed", run.transfer.moe->route_scale_routed},
                {"route_scale_shared", run.transfer.moe->route_scale_shared},
                {"gate_normalization", run.transfer.moe->gate_normalization}};
  }
  for (const auto& g : run.transfer.groups)
    j["groups"][theory::group_name(g.group)] = {{"init_std", g.init_std.value()},   {"multiplier", g.multiplier.value()},
                                                {"lr", g.lr.value()},               {"weight_decay", g.weight_decay.value()},
                                                {"eps", g.eps.value()},             {"beta1", g.beta1.value()},
                                                {"beta2", g.beta2.value()}};
  return j;
}

}  // namespace

std::string hyperparameters_json_text(const TrainRun& run) { return hyperparameters_json(run).dump(2) + "\n"; }

std::string summary_json_text(const TrainRun& run, const TrainSummary& summary, const TokenSource& data,
                              const RunDevice& device) {
  nlohmann::json j;
  j["status"] = summary.status;
  j["diverged_step"] = summary.diverged_step >= 0 ? nlohmann::json(summary.diverged_step) : nlohmann::json(nullptr);
  j["steps_done"] = summary.steps_done;
  const auto finite_or_null = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  j["final_train_loss"] = finite_or_null(summary.final_train_loss);
  j["final_validation_loss"] = finite_or_null(summary.final_validation_loss);
  j["best_validation_loss"] = finite_or_null(summary.best_validation_loss);
  j["wall_time_s"] = summary.wall_time_s;
  j["tokens_per_s"] = summary.tokens_per_s;
  j["threads"] = run.trainer.threads;
  j["dtype"] = run.trainer.double_precision ? "double" : "float";
  j["data"] = data.description();
  if (data.entropy_floor() >= 0.0) j["entropy_floor"] = data.entropy_floor();
  // The exact floor of the sequence-averaged loss (docs/theory.md §9) and the final loss above it.
  const double floor = data.loss_floor(run.target.train.seq_len);
  if (floor >= 0.0) {
    j["loss_floor"] = floor;
    j["final_excess_loss"] = finite_or_null(summary.final_validation_loss - floor);
  }
  j["device"] = device.device;
  j["gemm_engine"] = device.gemm_engine;
  return j.dump(2) + "\n";
}

TrainingRecorder::TrainingRecorder(const TrainRun& run, const std::filesystem::path& out_dir)
    : run_(run), out_dir_(out_dir), groups_(theory::groups_present(run.target.model)) {
  const auto& m = run.target.model;
  kappa_ = m.is_moe() ? static_cast<double>(m.n_active) / static_cast<double>(m.n_experts) : 0.0;
  std::filesystem::create_directories(out_dir);
  io::write_file_atomically(out_dir / "resolved_config.toml", run.resolved_toml);
  io::write_file_atomically(out_dir / "hyperparameters.json", hyperparameters_json_text(run));
  std::vector<std::string> columns = {"step", "tokens", "train_loss", "lr", "grad_norm"};
  for (const auto g : groups_) columns.push_back("update_rms_" + theory::group_name(g));
  for (std::int64_t l = 0; l < m.n_layers; ++l) columns.push_back(fmt::format("act_rms_l{}", l));
  for (std::int64_t l = 0; l < m.n_layers; ++l) columns.push_back(fmt::format("ffn_rms_l{}", l));
  if (m.is_moe())
    for (std::int64_t l = 0; l < m.n_layers; ++l)
      for (std::int64_t e = 0; e < m.n_experts; ++e) columns.push_back(fmt::format("load_l{}_e{}", l, e));
  if (m.is_moe()) columns.push_back("max_load_deviation");
  columns.push_back("val_loss");
  log_.open(out_dir / "log.csv");
  for (std::size_t i = 0; i < columns.size(); ++i) log_ << (i ? "," : "") << columns[i];
  log_ << "\n" << std::flush;
  summary_.best_validation_loss = std::numeric_limits<double>::infinity();
  start_ = std::chrono::steady_clock::now();
}

bool TrainingRecorder::logs_step(std::int64_t step) const {
  return step % run_.trainer.log_interval == 0 || (step + 1) % run_.trainer.eval_interval == 0 ||
         step + 1 == run_.target.train.steps;
}

bool TrainingRecorder::record_step(std::int64_t step, const ForwardStats& stats, double lr_factor, double grad_norm,
                                   bool finite, const std::map<theory::ParameterGroup, double>& update_rms,
                                   const std::function<double()>& validation_loss) {
  const auto& tr = run_.target.train;
  std::vector<std::string> row = {std::to_string(step), fmt::format("{}", static_cast<std::int64_t>(tr.tokens_per_step()) * (step + 1)),
                                  number(stats.loss), number(run_.transfer.global.lr.value() * lr_factor), number(grad_norm)};
  for (const auto g : groups_) {
    const auto it = update_rms.find(g);
    row.push_back(it != update_rms.end() ? number(it->second) : "");
  }
  for (const double r : stats.residual_rms) row.push_back(number(r));
  for (std::int64_t l = 0; l < run_.target.model.n_layers; ++l)  // blank where the backend does not measure it
    row.push_back(
        static_cast<std::size_t>(l) < stats.ffn_rms.size() ? number(stats.ffn_rms[static_cast<std::size_t>(l)]) : "");
  if (run_.target.model.is_moe()) {
    double worst = 0.0;
    for (const auto& layer : stats.load)
      for (const double load : layer) {
        row.push_back(number(load));
        worst = std::max(worst, std::abs(load - kappa_));
      }
    row.push_back(number(worst));
  }
  summary_.steps_done = step + 1;
  summary_.final_train_loss = stats.loss;
  std::string val;
  if (!finite) {
    summary_.status = "diverged";
    summary_.diverged_step = step;
  } else if ((step + 1) % run_.trainer.eval_interval == 0 || step + 1 == tr.steps) {
    const double v = validation_loss();
    val = number(v);
    summary_.final_validation_loss = v;
    if (std::isfinite(v)) summary_.best_validation_loss = std::min(summary_.best_validation_loss, v);
  }
  row.push_back(val);
  if (!finite || logs_step(step)) {
    for (std::size_t i = 0; i < row.size(); ++i) log_ << (i ? "," : "") << row[i];
    log_ << "\n" << std::flush;
  }
  return finite;
}

TrainSummary TrainingRecorder::finish(const TokenSource& data, const RunDevice& device) {
  return finish(data, device, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
}

TrainSummary TrainingRecorder::finish(const TokenSource& data, const RunDevice& device, double wall_time_s) {
  summary_.wall_time_s = wall_time_s;
  summary_.tokens_per_s = run_.target.train.tokens_per_step() * static_cast<double>(summary_.steps_done) /
                          std::max(1e-9, summary_.wall_time_s);
  io::write_file_atomically(out_dir_ / "summary.json", summary_json_text(run_, summary_, data, device));
  return summary_;
}

}  // namespace muelab::models
