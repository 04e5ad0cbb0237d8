#include "sweep_command.hpp"

#include "executable_path.hpp"

#include "muelab/experiments/output.hpp"
#include "muelab/experiments/sweep.hpp"
#include "muelab/models/cpu/trainer.hpp"
#include "muelab/theory/config_loader.hpp"

#include <fmt/format.h>

#include <iostream>
#include <memory>

namespace muelab::cli {

namespace {

struct SweepCommandOptions {
  std::string config, out, shard = "0/1", emit_slurm;
  int jobs = 1, array_tasks = 4, population = 8;
};

std::string self_executable() {
  const auto path = executable_path();
  return path.empty() ? std::string("muelab") : path.string();
}

int run(const SweepCommandOptions& o) {
  namespace ex = muelab::experiments;
  ex::MpiSession mpi;  // a no-op unless launched by mpirun
  ex::SweepOptions options;
  options.mpi_rank = mpi.rank();
  options.mpi_size = mpi.size();
  options.out = o.out;
  options.jobs = o.jobs;
  options.population = o.population;
  const auto slash = o.shard.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument("x");
    options.shard = std::stoi(o.shard.substr(0, slash));
    options.shards = std::stoi(o.shard.substr(slash + 1));
    if (options.shards < 1 || options.shard < 0 || options.shard >= options.shards) throw std::invalid_argument("x");
  } catch (const std::exception&) {
    std::cerr << fmt::format("muelab: error: --shard: \"{}\" is not i/K with 0 <= i < K\n", o.shard);
    return 2;
  }
  try {
    auto spec = ex::load_sweep_spec(o.config);
    if (spec.command.empty()) {
      spec.command = {self_executable(), "train"};
      // The default trainer is this binary: check every run's resolved config with its own loader
      // before anything is written, so a bad key fails the sweep with one line and no results.
      options.validate = [](const ex::SweepSpec& s, const ex::SweepRun& r) {
        try {
          (void)muelab::models::cpu::load_train_run(s.run_config, r.overrides);
        } catch (const muelab::theory::ConfigError& e) {
          throw ex::SweepError(s.source.string(), e.field(), fmt::format("run {} ({}): {}", r.index, r.id, e.message()));
        }
      };
      // Runs that can share a process (same threads, dtype and data; docs/development.md §1).
      options.population_key = [](const ex::SweepSpec& s, const ex::SweepRun& r) {
        return muelab::models::cpu::population_key(muelab::models::cpu::load_train_run(s.run_config, r.overrides));
      };
    }
    if (!o.emit_slurm.empty()) {
      ex::write_file_atomically(o.emit_slurm, ex::slurm_script(spec, options, o.array_tasks, self_executable()));
      std::cout << fmt::format("wrote {} ({} array tasks; submit with: sbatch {})\n", o.emit_slurm, o.array_tasks,
                               o.emit_slurm);
      return 0;
    }
    const auto outcome = ex::run_sweep(spec, options);
    if (mpi.rank() != 0) return 0;  // rank 0 reports for everyone
    std::cout << fmt::format("sweep {}: {} runs in this shard{}, {} already finished, {} ran ({} ok, {} diverged, "
                             "{} failed); results: {}\n",
                             spec.name, outcome.total,
                             mpi.size() > 1 ? fmt::format(" over {} MPI ranks", mpi.size()) : std::string(), outcome.skipped, outcome.ran, outcome.ok, outcome.diverged,
                             outcome.failed, (options.out / "results.csv").string());
    return outcome.failed > 0 ? 1 : 0;
  } catch (const ex::SweepError& e) {
    std::cerr << "muelab: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "muelab: error: sweep: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace

void add_sweep_command(CLI::App& app, int& exit_status) {
  auto o = std::make_shared<SweepCommandOptions>();
  auto* cmd = app.add_subcommand("sweep", "Run a sweep of training runs (resumable: rerun the same command after a kill)");
  cmd->footer(
      "Sweep file (TOML):\n"
      "  [sweep]  config = \"RUN.toml\" (relative to the sweep file), name, seeds = [0, 1, 2], seed_key (default\n"
      "           trainer.seed), set = [\"table.key=value\", ...] (fixed overrides), command = [\"prog\", \"args\"]\n"
      "           (default: this muelab with `train`)\n"
      "  [grid]   \"table.key\" = [v1, v2, ...]   (product over all grid keys)\n"
      "  [[points]] \"table.key\" = v ...        (explicit combinations, each crossed with the grid)\n"
      "Each run's id hashes the run config's bytes and its sorted overrides; finished runs append one row to\n"
      "OUT/results.csv under a lock; runs write OUT/runs/ID/ and OUT/logs/ID.log. Exit: 0 done, 1 some run failed,\n"
      "2 bad input (nothing written).");
  cmd->add_option("--config", o->config, "sweep file (TOML)")->required();
  cmd->add_option("--out", o->out, "results folder")->required();
  cmd->add_option("--jobs", o->jobs, "concurrent local runs")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--population", o->population,
                  "most runs per `muelab train --population` process (runs of the default trainer with the same "
                  "threads, dtype and data; 1: one process per run)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--shard", o->shard, "run only shard i of K (i/K), e.g. for Slurm array tasks")->capture_default_str();
  cmd->add_option("--emit-slurm", o->emit_slurm, "write a Slurm job-array script for this sweep and exit");
  cmd->add_option("--array", o->array_tasks, "array tasks for --emit-slurm")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->callback([o, &exit_status] { exit_status = run(*o); });
}

}  // namespace muelab::cli
