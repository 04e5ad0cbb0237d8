// Shared pieces of the transformer experiments (docs/theory.md §2–§6, §9): tiny MoE transformers on a
// Markov chain, trained in-process through the CPU trainer (models/cpu), one run per OpenMP thread
// with the trainer itself on one thread, so a run's numbers never depend on the thread count.
#pragma once

#include "muelab/experiments/plan.hpp"
#include "muelab/experiments/registry.hpp"
#include "muelab/experiments/verdicts.hpp"
#include "muelab/models/cpu/trainer.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace muelab::experiments::transformer {

/// A model shape. ffn "dense" uses d_ffn; "moe" uses n_experts, n_active, d_expert (granularity is
/// expressed directly as (N, a, h)), shared experts and routing groups.
struct Shape {
  std::int64_t d_model = 32, n_layers = 2, d_head = 8;
  std::string ffn = "moe";
  std::int64_t d_ffn = 32, n_experts = 4, n_active = 1, d_expert = 32, n_shared = 0, d_shared = 0, n_groups = 1;
  std::string router = "sigmoid";
};

/// Data and optimizer budget shared by the base and the target (same B and T: §4's q = 1).
struct Budget {
  std::int64_t batch_size = 8, seq_len = 32, steps = 150, warmup = 10, eval_batches = 8;
  /// "fortunes" (character-level English text from Debian's fortunes package: next-character
  /// prediction needs context and nonlinear features, so FFN/MoE capacity matters) or "markov" (a
  /// first-order chain: a bigram table suffices and the FFN barely matters).
  /// "markov-k": the capacity-bound order-k chain (docs/theory.md §9), whose V^k × V table exceeds
  /// what a d = 32, H = d FFN holds.
  std::string data_source = "markov";
  std::int64_t markov_states = 32;
  double markov_temperature = 0.5;
  std::int64_t markov_order = 2;  ///< "markov-k" only
  std::uint64_t markov_seed = 7;
  /// LR schedule after the warm-up: "constant", "cosine" or "wsd" (decay over the last decay_fraction).
  std::string schedule = "constant";
  double decay_fraction = 0.2;
  std::int64_t eval_interval = 0;  ///< validation loss every this many steps (val_loss column); 0: only at the end
};

/// A budget as JSON, for a plan's `settings` (plan.json).
[[nodiscard]] nlohmann::json to_json(const Budget& budget);

/// The base (proxy) hyperparameters that every rule transfers.
struct BaseHyperparameters {
  double lr = 3e-3, weight_decay = 0.0, init_std = 0.02;
};

struct Job {
  Shape shape;
  Shape base_shape;                      ///< the proxy (dense, unit expansion by default)
  BaseHyperparameters base;
  std::string rule = "complete-mue";
  std::vector<std::string> rule_switches;  ///< "rule.key=value" overrides (controls)
  Budget budget;
  /// The proxy's own budget when its batch or duration differs from the target's (duration and batch
  /// transfer: the rule's q = T/T' of docs/theory.md §4); empty: the proxy trains on `budget`.
  std::optional<Budget> base_budget;
  std::uint64_t seed = 1;
  std::string tag;                       ///< free label carried to the result
  /// Power check (docs/claims.md, "Power checks"): after the rule, the LR of every FFN/MoE-block group
  /// (ffn.*, router, expert.*, shared.*) is multiplied by this factor. A deliberately wrong rule sets
  /// it to 2^(log2 of the axis ratio); 1 leaves the rule untouched.
  double moe_block_lr_factor = 1.0;
  /// The same power check for an init sweep: the init std of every FFN/MoE-block group is multiplied
  /// by this factor after the rule; 1 leaves the rule untouched.
  double moe_block_init_factor = 1.0;
  /// The same power check for a weight-decay sweep: the weight decay of every FFN/MoE-block group is
  /// multiplied by this factor after the rule (its LR untouched); 1 leaves the rule untouched.
  double moe_block_wd_factor = 1.0;
  /// Controls that remove one ingredient of the rule after it resolved (docs/claims.md, "Controls that
  /// remove an ingredient"); names from ablation_names(), applied in this order by resolve().
  std::vector<std::string> ablations;
};

/// The accepted ablation names: "no-output-multiplier" (A = 1 on the MoE down groups), "plain-sum"
/// (A = 1, R = 1 and raw, unnormalized gates: the plain-sum MoE), "router-lr-width" (the router's LR
/// without its 1/ρ_d width factor, i.e. ×ρ_d), "attention-sqrt-dhead" (attention logits scaled as
/// 1/√d_head relative to the base instead of 1/d_head: ×√(d_head/d_head_base)).
[[nodiscard]] const std::vector<std::string>& ablation_names();

/// Applies one ablation to a resolved transfer; `base_d_head` is the proxy's head width. Throws
/// std::invalid_argument naming the ablation and the accepted names when it is unknown, or when it
/// needs an MoE target (all but attention-sqrt-dhead) and the target is dense.
void apply_ablation(theory::TransferResult& transfer, const std::string& ablation, std::int64_t base_d_head);

struct JobResult {
  models::cpu::TrainSummary summary;
  double loss = 0.0;                     ///< final validation loss, +inf when diverged
  std::vector<double> train_loss;        ///< per step (for overlays)
  std::vector<std::map<std::string, double>> log;  ///< selected log.csv columns per step (when asked)
};

/// Every field of a shape in one string (a key for runs that share their shape).
[[nodiscard]] std::string shape_key(const Shape& shape);

/// The unit-expansion dense proxy of a shape's width and depth (docs/theory.md §5: tune once on it).
[[nodiscard]] Shape dense_proxy(std::int64_t d_model, std::int64_t n_layers);

/// Width and depth of the transformer experiments' MoE reference point (d = 32, L = 2, N = 4, a = 1,
/// h = d) and of the dense proxy they transfer from.
inline constexpr std::int64_t kMoeReferenceWidth = 32, kMoeReferenceDepth = 2;

/// The MoE reference point moved along one named axis: d_model, d_model_a2 (a = 2), d_head (4 heads),
/// n_layers, n_active (N = 8), n_experts, n_experts_a2 (a = 2), granularity ((N, a, h) = (4m, m, d/m)),
/// n_shared (width d), n_groups (N = 8, a = 4). Used by the lr-transfer family and coord-check's MoE
/// axes; an unknown axis is a programming error (std::logic_error).
[[nodiscard]] Shape shape_along(const std::string& axis, std::int64_t value);

/// Resolves a job through the trainer's own config loader and the transfer engine (throws the
/// loader's one-line ConfigError on a bad job).
[[nodiscard]] models::cpu::TrainRun resolve(const Job& job);

/// A run's relative training cost (arbitrary units, proportional to its steps), used only to order a
/// batch longest first so that the last runs of a batch are short and no worker idles behind one long
/// run (docs/development.md §4, "Order of a batch"). It counts the multiply-adds per token of each block
/// (attention projections and scores, the active FFN or experts, the router, the head over `vocab_size`
/// tokens) plus a per-copy term for every expert a token is dispatched to and a per-element term. With
/// those two terms it gives a d = 64 and a d = 128 run 2.7× and 8.1× the cost of a d = 32 run and
/// granularity m = 16 5.2× m = 1, against ≈ 2.5×, ≈ 7× and ≈ 5× measured (docs/claims.md, compute plan):
/// close enough to order runs. It never changes a result: the runs are independent and each is stored
/// at its own index.
[[nodiscard]] double estimated_run_cost(const models::cpu::TrainRun& run, std::int64_t vocab_size);

/// Trains every job (OpenMP over jobs, trainer on 1 thread), in `scratch` (removed afterwards).
/// `log_columns` are log.csv columns kept per step.
[[nodiscard]] std::vector<JobResult> run_jobs(const std::vector<Job>& jobs, const std::filesystem::path& scratch,
                                              int threads, const std::vector<std::string>& log_columns = {});

/// Trains runs already resolved by resolve() (each job resolved once: callers that need the resolved
/// transfer themselves, for a fingerprint or an init-time measurement, pass it on instead of resolving
/// again). OpenMP over runs, trainer on 1 thread, in `scratch` (removed afterwards); `log_columns` are
/// log.csv columns kept per step, read back with the project's CSV reader (io/csv.hpp). Every run must
/// share one data source. `on_finished(k, result)`, when given, is called once per finished run (under
/// a lock, in completion order): the edge sweep journals each run there so an interrupted sweep resumes.
[[nodiscard]] std::vector<JobResult> train_resolved(
    const std::vector<models::cpu::TrainRun>& runs, const std::filesystem::path& scratch, int threads,
    const std::vector<std::string>& log_columns = {},
    const std::function<void(std::size_t, const JobResult&)>& on_finished = {});

/// log2-spaced grid: centre·2^(k·step) for k = -half..half.
[[nodiscard]] std::vector<double> log2_grid(double centre, int half, double step);

/// One line to stderr (progress of the long loops).
void note(const std::string& line);

/// The capacity-bound task (docs/theory.md §9, "The capacity-bound task"): the order-2 Markov chain on
/// 32 states (τ = 0.3, seed 7), 16 × 64 tokens per step, warm-up then WSD over the last 20%; 30 / 400 /
/// 1500 steps in the smoke / quick / full profiles. Shared by `capacity-gate` and the MoE-axis
/// experiments that run on it, so they train on exactly the task the gate judged.
[[nodiscard]] Budget capacity_bound_budget(Profile profile);

/// The proxy's weight decay on the capacity-bound task: ηλT ≈ 1.5 at η = 1e-2 and T = 1500, inside
/// the 0.3–10 range where λ* can be interior (docs/claims.md `capacity-gate`).
inline constexpr double kCapacityTaskWeightDecay = 0.1;

/// What `capacity-gate` decided (its gate.json): whether the task is capacity-bound, and if not why.
struct CapacityGateStatus {
  bool capacity_bound = false;
  std::string reason;  ///< empty when capacity-bound
};

/// Reads `gate_json` (written by `capacity-gate`). A missing or unreadable file is "not capacity-bound"
/// with the reason naming the file, never an exception: the MoE-axis rows then say why they are not judged.
[[nodiscard]] CapacityGateStatus read_capacity_gate(const std::filesystem::path& gate_json);

/// Where the MoE-axis experiments look for the gate: `capacity-gate/gate.json` beside their own folder
/// (the same profile's results).
[[nodiscard]] std::filesystem::path capacity_gate_file(const std::filesystem::path& experiment_out_dir);

/// When the gate has not passed, every row becomes inconclusive with the reason "task not
/// capacity-bound: …" instead of a verdict (docs/claims.md `capacity-gate`). Returns the rows changed.
std::size_t mark_task_not_capacity_bound(std::vector<Verdict>& rows, const CapacityGateStatus& gate);

/// The gate step every MoE-axis experiment ends with: reads the gate beside `out_dir`, marks `rows` when it
/// has not passed, and says so on stderr under the experiment's name.
void judge_only_if_capacity_bound(const std::string& experiment, std::vector<Verdict>& rows,
                                  const std::filesystem::path& out_dir);

}  // namespace muelab::experiments::transformer
