#include "edge_sweep.hpp"

#include "run_journal.hpp"

#include "muelab/experiments/output.hpp"

#include "muelab/models/cpu/blas.hpp"
#include "muelab/models/cpu/vector_kernels.hpp"
#include "muelab/theory/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>

namespace muelab::experiments::transformer {

namespace {

/// The [trainer] architecture switches and the schedule: not part of the transfer, but they change
/// what is trained (trainable norm gains, balancing, capacity), so two runs that differ only there are
/// different runs.
std::string trainer_key(const models::cpu::TrainRun& run) {
  const auto& a = run.architecture;
  const auto& s = run.schedule;
  return fmt::format("gains={} norm_eps={} cf={} aux={} bias={}|sched={} warmup={} total={} min={} decay={}",
                     a.norm_gains_trainable, a.norm_eps, a.capacity_factor, a.aux_loss_coef, a.bias_rate,
                     static_cast<int>(s.kind), s.warmup_steps, s.total_steps, s.min_factor, s.decay_fraction);
}

/// What else the trainer reads from a resolved run: the target's activation and biases, batch and
/// sequence length, the data source with every parameter of it, the evaluation settings and the dtype.
/// Inside one experiment these are fixed; between experiments (the run cache) they are not.
std::string inputs_key(const models::cpu::TrainRun& run) {
  const auto& m = run.target.model;
  const auto& t = run.target.train;
  const auto& d = run.data;
  const auto& r = run.trainer;
  return fmt::format(
      "act={} bias={} batch={} seq={}|data={} path={} val_every={} states={} temp={:.17g} mseed={} order={}|"
      "seed={} eval_every={} eval_batches={} double={}",
      theory::to_string(m.activation), m.bias, t.batch_size, t.seq_len, d.source, d.source == "fortunes" ? d.path : "",
      d.validation_every, d.markov_states, d.markov_temperature, d.markov_seed, d.markov_order, r.seed, r.eval_interval,
      r.eval_batches, r.double_precision);
}

/// run_fingerprint of a job already resolved into `run` (resolved once, then trained from the same value).
std::string fingerprint_of(const Job& job, const models::cpu::TrainRun& run) {
  auto fingerprint = theory::to_json(run.transfer);
  // The trainer reads the resolved numbers (groups, MoE summary, architecture) and the [trainer] table
  // (trainer_key), never the rule's name or its switch settings: two rule sources that resolve to the same
  // numbers (mup and mup-moe at the proxy's width; a duration sweep's T0 point under sqrt, lr-only and
  // none, where q = 1) train the same run, so it is trained once.
  for (const char* k : {"rule", "sde", "ratios", "global", "switches"}) fingerprint.erase(k);
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}", fingerprint.dump(), shape_key(job.shape), job.seed, job.base.lr,
                     job.base.weight_decay, job.budget.steps, trainer_key(run), inputs_key(run));
}

/// The key journals are written under: the clean revision and the kernel tag. A dirty or unknown
/// revision stays as it is, so that the journal is inert (RunJournal).
std::string journal_key(const std::string& revision) {
  return is_clean_revision(revision) ? revision + " " + kernel_tag() : revision;
}

}  // namespace

std::string run_fingerprint(const Job& job) { return fingerprint_of(job, resolve(job)); }

std::string kernel_tag() {
  namespace cpu = models::cpu;
  const auto engine = cpu::active_gemm_engine();
  std::string tag = cpu::vk::isa_name(cpu::vk::active_isa()) + " " + cpu::gemm_engine_name(engine);
  if (engine == cpu::GemmEngine::openblas || cpu::gemm_engine_for(true) == cpu::GemmEngine::openblas) {
    const char* coretype = std::getenv("OPENBLAS_CORETYPE");
    tag += fmt::format(" openblas-coretype={}", coretype != nullptr ? coretype : "auto");
  }
  return tag;
}

EdgeSweepResult sweep_curves_until_interior(const std::vector<std::vector<double>>& initial_grids, int seeds,
                                            const std::function<Job(std::size_t, double, int)>& job_at,
                                            const EdgePolicy& policy, const std::filesystem::path& scratch, int threads,
                                            const std::string& label, const std::string& journal_revision,
                                            std::map<std::string, double>* memo,
                                            const std::filesystem::path& run_cache) {
  EdgeSweepResult out;
  for (const auto& grid : initial_grids) {
    SweptCurve c;
    c.log2_x = grid;
    out.curves.push_back(std::move(c));
  }
  out.runs.resize(out.curves.size());
  std::map<std::string, double> own;  // fingerprint -> final validation loss
  auto& trained = memo != nullptr ? *memo : own;
  const std::string key = journal_key(journal_revision.empty() ? source_revision() : journal_revision);
  RunJournal journal(journal_path(scratch), key);  // runs of an interrupted attempt
  if (journal.loaded() > 0)
    note(fmt::format("{}: resuming, {} finished runs read from {}", label, journal.loaded(), journal.file().string()));
  // Runs of other experiments under the same code and kernels (docs/development.md §4).
  std::unique_ptr<RunJournal> cache;
  if (!run_cache.empty()) cache = std::make_unique<RunJournal>(run_cache, key);
  const auto evaluate = [&](const GridRequests& requests) {
    std::vector<models::cpu::TrainRun> fresh;  // each job resolved once: fingerprinted, then trained
    std::vector<std::string> keys, fresh_keys;
    std::size_t resumed_now = 0, cached_now = 0;
    for (const auto& [curve, x] : requests)
      for (int seed = 0; seed < seeds; ++seed) {
        const auto job = job_at(curve, x, seed);
        auto run = resolve(job);
        keys.push_back(fingerprint_of(job, run));
        if (trained.count(keys.back()) || std::find(fresh_keys.begin(), fresh_keys.end(), keys.back()) != fresh_keys.end())
          continue;
        if (const auto done = journal.find(keys.back())) {
          trained[keys.back()] = *done;
          ++resumed_now;
          continue;
        }
        if (const auto shared = cache ? cache->find(keys.back()) : std::nullopt) {
          trained[keys.back()] = *shared;
          journal.record(keys.back(), *shared);  // so that a resumed attempt finds it without the cache
          ++cached_now;
          continue;
        }
        fresh.push_back(std::move(run));
        fresh_keys.push_back(keys.back());
      }
    note(fmt::format("{}: {} grid points, {} runs ({} new, {} from the resume journal, {} from the run cache)", label,
                     requests.size(), keys.size(), fresh.size(), resumed_now, cached_now));
    const auto results = train_resolved(fresh, scratch, threads, {}, [&](std::size_t k, const JobResult& r) {
      journal.record(fresh_keys[k], r.loss);
      if (cache) cache->record(fresh_keys[k], r.loss);
    });
    for (std::size_t i = 0; i < fresh.size(); ++i) trained[fresh_keys[i]] = results[i].loss;
    out.requested += keys.size();
    out.trained += fresh.size() + resumed_now + cached_now;
    out.resumed += resumed_now;
    out.cached += cached_now;
    std::vector<double> means;
    for (std::size_t q = 0; q < requests.size(); ++q) {
      double sum = 0.0;
      for (int seed = 0; seed < seeds; ++seed) {
        const double loss = trained.at(keys[q * static_cast<std::size_t>(seeds) + static_cast<std::size_t>(seed)]);
        sum += loss;
        out.runs[requests[q].first].push_back({requests[q].second, seed, loss});
      }
      means.push_back(sum / seeds);  // +inf when any seed diverged: the curve is unusable there
    }
    return means;
  };
  sweep_until_interior(out.curves, evaluate, policy);
  return out;
}

EdgeSweepResult sweep_curves_until_interior(const std::vector<std::vector<double>>& initial_grids, int seeds,
                                            const std::function<Job(std::size_t, double, int)>& job_at,
                                            const EdgePolicy& policy, const ExperimentOptions& o,
                                            const std::string& label, std::map<std::string, double>* memo) {
  return sweep_curves_until_interior(initial_grids, seeds, job_at, policy, o.out_dir / "scratch", o.threads, label, "",
                                     memo, o.run_cache);
}

}  // namespace muelab::experiments::transformer
