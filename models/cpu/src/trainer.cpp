// The CPU training loop (see trainer.hpp): one run is a population of one.
#include "muelab/models/cpu/trainer.hpp"
#include "muelab/models/cpu/blas.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>

namespace muelab::models::cpu {

namespace {

/// One run of a population: its own model, optimizer and outputs; the step loop leaves it when it
/// diverges or reaches its own step count.
template <class Scalar>
struct Member {
  Member(const TrainRun& r, const TokenSource& data, const std::filesystem::path& out)
      : run(r),
        model(make_model_spec(r.transfer, r.target.model, data.vocab_size(), r.target.train.seq_len, r.architecture)),
        optimizer(r.transfer.optimizer, group_hyperparameters(r.transfer)),
        recorder(r, out) {
    model.initialize(r.trainer.seed);
  }

  const TrainRun& run;
  Model<Scalar> model;
  Optimizer<Scalar> optimizer;
  TrainingRecorder recorder;
  bool active = true;
  double busy_s = 0.0;  ///< the time spent in this member's own steps and validations
};

/// The batches of a block of steps for the runs that share them (same trainer seed and batch shape: a
/// batch is a function of (seed, step, shape) only), drawn once for all of them and kept for the block.
/// A member whose batches no other member draws does not go through here: it draws each step's batch
/// when it needs it, as a run alone does, so a single run never holds a block of batches.
class BlockBatches {
 public:
  /// Forgets the previous block; the next get() draws from `first` on.
  void start_block(std::int64_t first) {
    first_ = first;
    blocks_.clear();
  }
  const TokenBatch& get(const TokenSource& data, const TrainRun& run, std::int64_t step) {
    const auto& tr = run.target.train;
    const Key key{run.trainer.seed, tr.batch_size, tr.seq_len};
    std::vector<TokenBatch>* block = nullptr;
    for (auto& [k, batches] : blocks_)
      if (k == key) block = &batches;
    if (block == nullptr) block = &blocks_.emplace_back(key, std::vector<TokenBatch>{}).second;
    const auto offset = static_cast<std::size_t>(step - first_);
    while (block->size() <= offset)
      block->push_back(data.train_batch(run.trainer.seed, first_ + static_cast<std::int64_t>(block->size()),
                                        tr.batch_size, tr.seq_len));
    return (*block)[offset];
  }

 private:
  using Key = std::tuple<std::uint64_t, std::int64_t, std::int64_t>;
  std::int64_t first_ = 0;
  std::vector<std::pair<Key, std::vector<TokenBatch>>> blocks_;
};

/// Steps a member runs before the next member takes the core. Member after member step by step
/// (a block of 1) was 5–8% slower than separate processes on the capacity task's shape: each switch
/// evicts the previous member's weights, moments and activations from the caches. A block of 64 steps
/// pays that once per 64 steps and keeps each batch shared (docs/development.md §1).
constexpr std::int64_t kBlockSteps = 64;

/// One training step of one member (forward, backward, optimizer, log row): the same operations in
/// the same order whether the member trains alone or in a population.
template <class Scalar>
void step_member(Member<Scalar>& m, const TokenSource& data, const TokenBatch& batch, std::int64_t step) {
  const auto start = std::chrono::steady_clock::now();
  const auto& tr = m.run.target.train;
  const auto stats = m.model.forward(batch.tokens, batch.targets, tr.batch_size);
  m.model.backward();
  double grad_sq = 0.0;
  for (const auto& p : m.model.parameters())
    if (p.trainable) grad_sq += static_cast<double>(p.grad.squaredNorm());
  const double grad_norm = std::sqrt(grad_sq);
  const double factor = m.run.schedule.factor(step);
  const bool finite = std::isfinite(stats.loss) && std::isfinite(grad_norm);
  std::map<ParameterGroup, double> update_rms;
  if (finite) {
    update_rms = m.optimizer.step(m.model.parameters(), factor);
    m.model.update_balance_bias();
  }
  const auto validation_loss = [&] { return mean_validation_loss(m.model, data, m.run); };
  if (!m.recorder.record_step(step, stats, factor, grad_norm, finite, update_rms, validation_loss)) m.active = false;
  if (step + 1 >= tr.steps) m.active = false;
  m.busy_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

template <class Scalar>
std::vector<TrainSummary> train_impl(const std::vector<TrainRun>& runs, const TokenSource& data,
                                     const std::vector<std::filesystem::path>& out_dirs) {
  set_thread_count(runs.front().trainer.threads);
  std::vector<std::unique_ptr<Member<Scalar>>> members;
  for (std::size_t k = 0; k < runs.size(); ++k) {
    members.push_back(std::make_unique<Member<Scalar>>(runs[k], data, out_dirs[k]));
    if (runs[k].target.train.steps <= 0) members.back()->active = false;
  }
  const auto batch_key = [](const TrainRun& r) {
    return std::tuple{r.trainer.seed, r.target.train.batch_size, r.target.train.seq_len};
  };
  std::vector<bool> shares_batches(runs.size(), false);
  for (std::size_t k = 0; k < runs.size(); ++k)
    for (std::size_t j = 0; j < runs.size(); ++j)
      if (j != k && batch_key(runs[j]) == batch_key(runs[k])) shares_batches[k] = true;
  BlockBatches batches;
  for (std::int64_t first = 0;; first += kBlockSteps) {
    bool any = false;
    batches.start_block(first);
    for (std::size_t k = 0; k < members.size(); ++k) {
      auto& m = *members[k];
      const auto& tr = m.run.target.train;
      for (std::int64_t step = first; m.active && step < first + kBlockSteps; ++step) {
        any = true;
        if (shares_batches[k])
          step_member(m, data, batches.get(data, m.run, step), step);
        else
          step_member(m, data, data.train_batch(m.run.trainer.seed, step, tr.batch_size, tr.seq_len), step);
      }
    }
    if (!any) break;
  }
  std::vector<TrainSummary> summaries;
  const RunDevice device{"cpu", gemm_engine_name(gemm_engine_for(runs.front().trainer.double_precision))};
  for (auto& m : members) summaries.push_back(m->recorder.finish(data, device, m->busy_s));
  return summaries;
}

}  // namespace

std::string population_mismatch(const std::vector<TrainRun>& runs) {
  for (std::size_t k = 1; k < runs.size(); ++k) {
    if (runs[k].trainer.threads != runs.front().trainer.threads)
      return "trainer.threads differs between members (" + std::to_string(runs.front().trainer.threads) + " and " +
             std::to_string(runs[k].trainer.threads) + ")";
    if (runs[k].trainer.double_precision != runs.front().trainer.double_precision)
      return "trainer.double_precision differs between members";
    if (!runs[k].data.same_source(runs.front().data)) return "data differs between members (one source per population)";
  }
  return {};
}

std::string population_key(const TrainRun& run) {
  const auto& d = run.data;
  return fmt::format("threads={} double={} data={} {} {} {} {:a} {} {}", run.trainer.threads,
                     run.trainer.double_precision, d.source, d.path, d.validation_every, d.markov_states,
                     d.markov_temperature, d.markov_seed, d.markov_order);
}

std::vector<TrainSummary> train_population(const std::vector<TrainRun>& runs, const TokenSource& data,
                                           const std::vector<std::filesystem::path>& out_dirs) {
  if (runs.empty()) throw std::invalid_argument("train_population: no runs");
  if (out_dirs.size() != runs.size())
    throw std::invalid_argument("train_population: one output folder per run is needed");
  if (const auto why = population_mismatch(runs); !why.empty()) throw std::invalid_argument("train_population: " + why);
  const auto folder = [](const std::filesystem::path& p) {  // "a", "a/", "a/." and "./a" are one folder
    auto text = std::filesystem::absolute(p).lexically_normal().string();
    while (text.size() > 1 && text.back() == '/') text.pop_back();
    return text;
  };
  for (std::size_t k = 0; k < out_dirs.size(); ++k)
    for (std::size_t j = 0; j < k; ++j)
      if (folder(out_dirs[j]) == folder(out_dirs[k]))
        throw std::invalid_argument("train_population: members " + std::to_string(j) + " and " + std::to_string(k) +
                                    " share the output folder " + out_dirs[k].string());
  return runs.front().trainer.double_precision ? train_impl<double>(runs, data, out_dirs)
                                               : train_impl<float>(runs, data, out_dirs);
}

TrainSummary train(const TrainRun& run, const TokenSource& data, const std::filesystem::path& out_dir) {
  return train_population({run}, data, {out_dir}).front();
}

}  // namespace muelab::models::cpu
