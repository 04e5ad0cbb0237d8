#include "common.hpp"

#include "muelab/io/csv.hpp"
#include "muelab/theory/config_loader.hpp"
#include "muelab/theory/transfer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <exception>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <omp.h>
#include <stdexcept>

namespace muelab::experiments::transformer {

namespace {

std::string model_table(const Shape& s) {
  std::string t = fmt::format("[model]\nd_model = {}\nn_layers = {}\nd_head = {}\nffn = \"{}\"\n", s.d_model, s.n_layers,
                              s.d_head, s.ffn);
  if (s.ffn == "dense") {
    t += fmt::format("d_ffn = {}\n", s.d_ffn);
  } else {
    t += fmt::format("n_experts = {}\nn_active = {}\nd_expert = {}\nn_groups = {}\nrouter = \"{}\"\n", s.n_experts,
                     s.n_active, s.d_expert, s.n_groups, s.router);
    if (s.n_shared > 0) t += fmt::format("n_shared = {}\nd_shared = {}\n", s.n_shared, s.d_shared);
  }
  return t;
}

std::string train_table(const Budget& b) {
  return fmt::format("[train]\nbatch_size = {}\nseq_len = {}\nsteps = {}\n", b.batch_size, b.seq_len, b.steps);
}

std::string data_table(const Budget& b) {
  if (b.data_source == "markov")
    return fmt::format("[data]\nsource = \"markov\"\nmarkov_states = {}\nmarkov_temperature = {}\n", b.markov_states,
                       b.markov_temperature);
  if (b.data_source == "markov-k")
    return fmt::format("[data]\nsource = \"markov-k\"\nmarkov_states = {}\nmarkov_order = {}\nmarkov_temperature = {}\n"
                       "markov_seed = {}\n",
                       b.markov_states, b.markov_order, b.markov_temperature, b.markov_seed);
  return "[data]\nsource = \"fortunes\"\n";
}

std::string schedule_table(const Budget& b) {
  std::string t = fmt::format("[schedule]\nkind = \"{}\"\nwarmup_steps = {}\n", b.schedule, b.warmup);
  if (b.schedule == "wsd") t += fmt::format("decay_fraction = {}\n", b.decay_fraction);
  return t;
}

bool in_ffn_or_moe_block(theory::ParameterGroup group) {
  using theory::ParameterGroup;
  switch (group) {
    case ParameterGroup::ffn_up:
    case ParameterGroup::ffn_gate:
    case ParameterGroup::ffn_down:
    case ParameterGroup::router:
    case ParameterGroup::expert_up:
    case ParameterGroup::expert_gate:
    case ParameterGroup::expert_down:
    case ParameterGroup::shared_up:
    case ParameterGroup::shared_gate:
    case ParameterGroup::shared_down: return true;
    default: return false;
  }
}

void apply_moe_block_lr_factor(theory::TransferResult& transfer, double factor) {
  for (auto& g : transfer.groups)
    if (in_ffn_or_moe_block(g.group))
      g.lr.apply({theory::FactorAxis::parameterization, factor, fmt::format("power check: wrong rule x{:g}", factor),
                  "docs/claims.md (power checks)"});
}

void apply_moe_block_init_factor(theory::TransferResult& transfer, double factor) {
  for (auto& g : transfer.groups)
    if (in_ffn_or_moe_block(g.group))
      g.init_std.apply({theory::FactorAxis::parameterization, factor, fmt::format("power check: wrong init x{:g}", factor),
                        "docs/claims.md (power checks)"});
}

void apply_moe_block_wd_factor(theory::TransferResult& transfer, double factor) {
  for (auto& g : transfer.groups)
    if (in_ffn_or_moe_block(g.group))
      g.weight_decay.apply({theory::FactorAxis::parameterization, factor,
                            fmt::format("power check: wrong weight decay x{:g}", factor),
                            "docs/claims.md (power checks)"});
}

}  // namespace

const std::vector<std::string>& ablation_names() {
  static const std::vector<std::string> names = {"no-output-multiplier", "plain-sum", "router-lr-width",
                                                 "attention-sqrt-dhead"};
  return names;
}

namespace {

const char* const kAblationSource = "docs/claims.md (controls that remove an ingredient)";

std::string accepted_ablations() {
  std::string list;
  for (const auto& n : ablation_names()) list += (list.empty() ? "" : ", ") + n;
  return list;
}

/// A = 1: every MoE down group's multiplier loses its Bridge I factor A (docs/theory.md §5.1).
void remove_output_multiplier(theory::TransferResult& transfer) {
  const double a = transfer.moe->output_multiplier;
  for (auto& g : transfer.groups)
    if (g.group == theory::ParameterGroup::expert_down || g.group == theory::ParameterGroup::shared_down)
      g.multiplier.apply({theory::FactorAxis::parameterization, 1.0 / a, fmt::format("control: A removed (x1/{:g})", a),
                          kAblationSource});
  transfer.moe->output_multiplier = 1.0;
}

}  // namespace

void apply_ablation(theory::TransferResult& transfer, const std::string& ablation, std::int64_t base_d_head) {
  const auto need_moe = [&] {
    if (!transfer.moe)
      throw std::invalid_argument("ablation \"" + ablation + "\" needs an MoE target (accepted on a dense one: " +
                                  "attention-sqrt-dhead)");
  };
  if (ablation == "no-output-multiplier") {
    need_moe();
    remove_output_multiplier(transfer);
  } else if (ablation == "plain-sum") {
    need_moe();
    remove_output_multiplier(transfer);
    transfer.moe->route_scale_routed = 1.0;
    transfer.moe->route_scale_shared = 1.0;
    transfer.moe->gate_normalization = "none";
  } else if (ablation == "router-lr-width") {
    need_moe();  // a dense model has no router: the control would silently change nothing
    const double rho = transfer.ratios.width;
    for (auto& g : transfer.groups)
      if (g.group == theory::ParameterGroup::router)
        g.lr.apply({theory::FactorAxis::parameterization, rho, fmt::format("control: router LR without 1/rho_d (x{:g})", rho),
                    kAblationSource});
  } else if (ablation == "attention-sqrt-dhead") {
    auto& a = transfer.architecture;
    if (a.attention_logit_rule != "1/d_head")
      throw std::invalid_argument("ablation \"attention-sqrt-dhead\" needs a rule that scores attention as 1/d_head (got " +
                                  a.attention_logit_rule + ")");
    const double d_head = 1.0 / a.attention_logit_scale;  // the μP family's 1/d_head
    if (d_head == static_cast<double>(base_d_head)) return;  // the identity at the base head width
    a.attention_logit_scale *= std::sqrt(d_head / static_cast<double>(base_d_head));
    a.attention_logit_rule = fmt::format("control: 1/sqrt(d_head * {}) (1/d_head at the base)", base_d_head);
  } else {
    throw std::invalid_argument("ablation \"" + ablation + "\" is unknown (accepted: " + accepted_ablations() + ")");
  }
}

std::string shape_key(const Shape& s) {
  return fmt::format("{}-{}-{}-{}-{}-{}-{}-{}-{}-{}-{}-{}", s.d_model, s.n_layers, s.d_head, s.ffn, s.d_ffn, s.n_experts,
                     s.n_active, s.d_expert, s.n_shared, s.d_shared, s.n_groups, s.router);
}

Shape dense_proxy(std::int64_t d_model, std::int64_t n_layers) {
  Shape s;
  s.d_model = d_model;
  s.n_layers = n_layers;
  s.ffn = "dense";
  s.d_ffn = d_model;  // unit expansion H = d (docs/theory.md §5)
  return s;
}

Shape shape_along(const std::string& axis, std::int64_t v) {
  Shape s;  // N = 4, a = 1, h = d: the MoE reference point
  s.d_model = kMoeReferenceWidth;
  s.n_layers = kMoeReferenceDepth;
  if (axis == "d_model") {
    s.d_model = v;
    s.d_expert = v;
  } else if (axis == "n_active") {
    s.n_experts = 8;
    s.n_active = v;
  } else if (axis == "n_layers") {
    s.n_layers = v;
  } else if (axis == "n_experts") {
    s.n_experts = v;
  } else if (axis == "n_experts_a2") {  // N with two experts active (the router learns)
    s.n_experts = v;
    s.n_active = 2;
  } else if (axis == "granularity") {  // (N, a, h) -> (mN, ma, h/m)
    s.n_experts = 4 * v;
    s.n_active = v;
    s.d_expert = kMoeReferenceWidth / v;
  } else if (axis == "n_shared") {  // shared experts of width d beside the routed ones
    s.n_shared = v;
    s.d_shared = kMoeReferenceWidth;
  } else if (axis == "n_groups") {  // routing groups (N = 8, a = 4: g divides both)
    s.n_experts = 8;
    s.n_active = 4;
    s.n_groups = v;
  } else if (axis == "d_model_a2") {  // width with two of four experts active (the router learns)
    s.d_model = v;
    s.d_expert = v;
    s.n_active = 2;
  } else if (axis == "d_head") {  // width with 4 heads fixed: d = 4·d_head, h = d
    s.d_head = v;
    s.d_model = 4 * v;
    s.d_expert = 4 * v;
  } else {
    throw std::logic_error("shape_along: unknown axis " + axis);
  }
  return s;
}

models::cpu::TrainRun resolve(const Job& job) {
  const auto& b = job.budget;
  std::string target = model_table(job.shape) + train_table(b) +
                       fmt::format("[transfer]\nrule = \"{}\"\nlr = {}\ninit_std = {}\nweight_decay = {}\n", job.rule,
                                   job.base.lr, job.base.init_std, job.base.weight_decay) +
                       data_table(b) + schedule_table(b) +
                       fmt::format("[trainer]\nseed = {}\nthreads = 1\neval_interval = {}\neval_batches = {}\n", job.seed,
                                   b.eval_interval > 0 ? b.eval_interval : b.steps, b.eval_batches);
  auto run = models::cpu::parse_train_run(target, "transformer-job", ".", job.rule_switches);
  // The proxy: its own shape, its own budget when given (else the same), the tuned base hyperparameters
  // (docs/theory.md §4, §5).
  const std::string base_text = model_table(job.base_shape) + train_table(job.base_budget ? *job.base_budget : b) +
                                fmt::format("[optim]\nname = \"adamw\"\nlr = {}\nweight_decay = {}\neps = 1e-8\n"
                                            "beta1 = 0.9\nbeta2 = 0.95\ninit_std = {}\n",
                                            job.base.lr, job.base.weight_decay, job.base.init_std);
  run.base = theory::parse_run_config(base_text, "transformer-base", theory::ConfigRole::base);
  run.transfer = theory::transfer(run.base, run.target, run.rule);
  if (job.moe_block_lr_factor != 1.0) apply_moe_block_lr_factor(run.transfer, job.moe_block_lr_factor);
  if (job.moe_block_init_factor != 1.0) apply_moe_block_init_factor(run.transfer, job.moe_block_init_factor);
  if (job.moe_block_wd_factor != 1.0) apply_moe_block_wd_factor(run.transfer, job.moe_block_wd_factor);
  for (const auto& ablation : job.ablations) apply_ablation(run.transfer, ablation, job.base_shape.d_head);
  return run;
}

double estimated_run_cost(const models::cpu::TrainRun& run, std::int64_t vocab_size) {
  const auto& m = run.target.model;
  const auto& t = run.target.train;
  const auto d = static_cast<double>(m.d_model);
  const double gate = m.has_gate() ? 1.5 : 1.0;                           // SwiGLU's third matrix
  double block = 4.0 * d * d + 2.0 * static_cast<double>(t.seq_len) * d;  // q, k, v, out; scores and mixing
  constexpr double per_copy = 150.0, per_element = 50.0;  // dispatch/combine copies; norms, residuals, activations
  if (m.is_moe()) {
    const auto routed = static_cast<double>(m.n_active) * static_cast<double>(m.d_expert);
    const auto shared = static_cast<double>(m.n_shared) * static_cast<double>(m.d_shared);
    block += 2.0 * d * (routed + shared) * gate + static_cast<double>(m.n_experts) * d +
             per_copy * static_cast<double>(m.n_active + m.n_shared) * d;
  } else {
    block += 2.0 * d * static_cast<double>(m.d_ffn) * gate;
  }
  block += per_element * d;
  const double per_token = static_cast<double>(m.n_layers) * block + 2.0 * static_cast<double>(vocab_size) * d;
  return per_token * t.tokens_total();
}

std::vector<JobResult> run_jobs(const std::vector<Job>& jobs, const std::filesystem::path& scratch, int threads,
                                const std::vector<std::string>& log_columns) {
  std::vector<models::cpu::TrainRun> runs;
  runs.reserve(jobs.size());
  for (const auto& j : jobs) runs.push_back(resolve(j));  // every config checked before any training
  return train_resolved(runs, scratch, threads, log_columns);
}

namespace {

/// The per-step columns of a finished run's log.csv: train_loss always, `log_columns` when asked.
void read_log(const std::filesystem::path& file, const std::vector<std::string>& log_columns, JobResult& out) {
  const auto log = io::read_csv(file);
  const auto loss_col = log.column("train_loss");
  std::vector<std::pair<std::string, std::size_t>> keep;
  for (const auto& want : log_columns) keep.emplace_back(want, log.column(want));
  const auto value = [](const std::string& cell) {
    return cell.empty() ? std::numeric_limits<double>::quiet_NaN() : std::stod(cell);
  };
  for (const auto& cells : log.rows) {
    out.train_loss.push_back(value(cells[loss_col]));
    if (keep.empty()) continue;
    std::map<std::string, double> row;
    for (const auto& [name, c] : keep) row[name] = value(cells[c]);
    out.log.push_back(std::move(row));
  }
}

}  // namespace

std::vector<JobResult> train_resolved(const std::vector<models::cpu::TrainRun>& runs, const std::filesystem::path& scratch,
                                      int threads, const std::vector<std::string>& log_columns,
                                      const std::function<void(std::size_t, const JobResult&)>& on_finished) {
  if (runs.empty()) return {};
  std::unique_ptr<models::cpu::TokenSource> data = models::cpu::make_token_source(runs.front().data);
  for (const auto& r : runs)
    if (!r.data.same_source(runs.front().data))
      throw std::invalid_argument("train_resolved: every run must share one data source");
  std::vector<JobResult> results(runs.size());
  std::filesystem::create_directories(scratch);
  const auto n = static_cast<std::ptrdiff_t>(runs.size());
  std::mutex progress;
  std::size_t done = 0;
  std::exception_ptr failure;
  const int team = threads > 0 ? threads : 0;
  // Longest first: the workers take runs from one queue, so the batch ends with its shortest runs and
  // its wall time is close to total/threads (docs/development.md §4, "Order of a batch").
  std::vector<std::size_t> order(runs.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::vector<double> cost;
  cost.reserve(runs.size());
  for (const auto& r : runs) cost.push_back(estimated_run_cost(r, data->vocab_size()));
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return cost[a] > cost[b]; });
#pragma omp parallel for schedule(dynamic, 1) num_threads(team > 0 ? team : omp_get_max_threads())
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const auto k = order[static_cast<std::size_t>(i)];
    const auto dir = scratch / fmt::format("run{:05d}", k);
    auto& out = results[k];
    try {  // an exception must not leave the OpenMP region: kept and rethrown after the loop
      out.summary = models::cpu::train(runs[k], *data, dir);
      out.loss = out.summary.status == "ok" && std::isfinite(out.summary.final_validation_loss)
                     ? out.summary.final_validation_loss
                     : std::numeric_limits<double>::infinity();
      read_log(dir / "log.csv", log_columns, out);
    } catch (...) {
      std::lock_guard<std::mutex> lock(progress);
      if (!failure) failure = std::current_exception();
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    std::lock_guard<std::mutex> lock(progress);
    if (on_finished && !failure) {
      try {
        on_finished(k, out);
      } catch (...) {
        failure = std::current_exception();
      }
    }
    ++done;
    if (done % 20 == 0 || done == runs.size()) note(fmt::format("  {}/{} runs", done, runs.size()));
  }
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  if (failure) std::rethrow_exception(failure);
  return results;
}

std::vector<double> log2_grid(double centre, int half, double step) {
  std::vector<double> grid;
  for (int k = -half; k <= half; ++k) grid.push_back(centre * std::exp2(step * k));
  return grid;
}

void note(const std::string& line) { std::cerr << line << "\n" << std::flush; }

nlohmann::json to_json(const Budget& b) {
  return {{"batch_size", b.batch_size}, {"seq_len", b.seq_len}, {"steps", b.steps}, {"warmup", b.warmup},
          {"schedule", b.schedule}, {"decay_fraction", b.decay_fraction}, {"eval_batches", b.eval_batches},
          {"data", b.data_source}, {"markov_states", b.markov_states}, {"markov_order", b.markov_order},
          {"markov_temperature", b.markov_temperature}, {"markov_seed", b.markov_seed}};
}

Budget capacity_bound_budget(Profile profile) {
  Budget b;
  b.batch_size = by_profile<std::int64_t>(profile, 8, 16, 16);
  b.seq_len = by_profile<std::int64_t>(profile, 32, 64, 64);
  // quick: 60 steps. Below ~1000 steps the gate cannot pass, so every quick row on this task is
  // inconclusive ("task not capacity-bound") and the quick profile only shows that the code paths run;
  // at 200 steps these experiments were ~200 of the main job's 280-345 s, and at 100 steps the 37
  // experiments took 306 s on an AVX2 machine (README, "The quick profile"; docs/claims.md `capacity-gate`).
  b.steps = by_profile<std::int64_t>(profile, 30, 60, 1500);
  b.warmup = by_profile<std::int64_t>(profile, 3, 5, 100);
  b.eval_batches = by_profile<std::int64_t>(profile, 2, 8, 16);
  b.data_source = "markov-k";
  b.markov_states = 32;
  b.markov_order = 2;
  b.markov_temperature = 0.3;
  b.markov_seed = 7;
  b.schedule = "wsd";
  b.decay_fraction = 0.2;
  return b;
}

CapacityGateStatus read_capacity_gate(const std::filesystem::path& gate_json) {
  CapacityGateStatus status;
  std::ifstream in(gate_json);
  if (!in) {
    status.reason = "no capacity-gate result at " + gate_json.string() + " (run `muelab experiment capacity-gate` first)";
    return status;
  }
  try {
    const auto j = nlohmann::json::parse(in);
    status.capacity_bound = j.at("capacity_bound").get<bool>();
    if (!status.capacity_bound) {
      const auto& reasons = j.at("reasons");
      status.reason = reasons.empty() ? "the gate did not pass" : reasons.front().get<std::string>();
    }
  } catch (const std::exception& e) {
    status.capacity_bound = false;
    status.reason = "unreadable capacity-gate result " + gate_json.string() + ": " + e.what();
  }
  return status;
}

std::filesystem::path capacity_gate_file(const std::filesystem::path& experiment_out_dir) {
  return experiment_out_dir.parent_path() / "capacity-gate" / "gate.json";
}

std::size_t mark_task_not_capacity_bound(std::vector<Verdict>& rows, const CapacityGateStatus& gate) {
  if (gate.capacity_bound) return 0;
  for (auto& row : rows) {
    row.outcome = Outcome::inconclusive;
    row.reason = "task not capacity-bound: " + gate.reason;
  }
  return rows.size();
}

void judge_only_if_capacity_bound(const std::string& experiment, std::vector<Verdict>& rows,
                                  const std::filesystem::path& out_dir) {
  const auto gate = read_capacity_gate(capacity_gate_file(out_dir));
  if (mark_task_not_capacity_bound(rows, gate) > 0)
    note(experiment + ": rows not judged, task not capacity-bound: " + gate.reason);
}

}  // namespace muelab::experiments::transformer
