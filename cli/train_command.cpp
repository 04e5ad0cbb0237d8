#include "train_command.hpp"

#include "cuda_backend/cuda_backend.hpp"
#include "muelab/experiments/sweep.hpp"
#include "muelab/models/cpu/blas.hpp"
#include "muelab/models/cpu/trainer.hpp"

#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>

namespace muelab::cli {

int train_population_command(const std::string& config, const std::vector<std::string>& common,
                             const std::string& population_file, const std::string& device) {
  namespace mc = muelab::models::cpu;
  if (device != "cpu") {
    std::cerr << "muelab train: error: --population trains on the CPU only (got --device " << device
              << "; accepted: cpu)\n";
    return 2;
  }
  try {
    const auto members = muelab::experiments::load_population_file(population_file);
    std::vector<mc::TrainRun> runs;
    std::vector<std::filesystem::path> outs;
    for (const auto& m : members) {
      auto overrides = common;
      overrides.insert(overrides.end(), m.overrides.begin(), m.overrides.end());
      runs.push_back(mc::load_train_run(config, overrides));
      outs.emplace_back(m.out);
    }
    if (const auto why = mc::population_mismatch(runs); !why.empty())
      throw std::invalid_argument("--population: " + why);
    mc::set_thread_count(runs.front().trainer.threads);
    const auto data = mc::make_token_source(runs.front().data);
    const auto summaries = mc::train_population(runs, *data, outs);  // checks the members before writing
    std::cerr << "muelab train: population of " << runs.size() << ", " << data->description() << "\n";
    for (std::size_t k = 0; k < summaries.size(); ++k)
      std::cout << outs[k].string() << ": status " << summaries[k].status << ", final validation loss "
                << summaries[k].final_validation_loss << ", " << summaries[k].wall_time_s << " s\n";
    return 0;  // each member's status is in its summary.json (a diverged member is a result, not a failure)
  } catch (const muelab::theory::ConfigError& e) {
    std::cerr << "muelab train: error: " << e.what() << "\n";
    return 2;
  } catch (const mc::DataError& e) {
    std::cerr << "muelab train: error: " << e.what() << "\n";
    return 2;
  } catch (const muelab::experiments::SweepError& e) {
    std::cerr << "muelab train: error: " << e.what() << "\n";
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "muelab train: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "muelab train: error: " << e.what() << "\n";
    return 1;
  }
}

void add_train_command(CLI::App& app, int& exit_status) {
  struct Options {
    std::string config, out;
    std::string device = "cpu";
    std::vector<std::string> overrides;
    std::string population;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("train", "train the toy MoE transformer (CPU reference backend or CUDA)");
  cmd->add_option("--config", options->config, "run config (TOML)")->required();
  cmd->add_option("--set", options->overrides, "override, table.key=value (repeatable)");
  auto* out = cmd->add_option("--out", options->out, "output directory");
  cmd->add_option("--population", options->population,
                  "train several runs in one process (CPU): a JSON file {\"members\": [{\"set\": [\"table.key=value\", "
                  "...], \"out\": \"DIR\"}, ...]}; each member is --config with --set then its own set")
      ->excludes(out);
  cmd->add_option("--device", options->device,
                  "backend: cpu (the reference, default), cuda, or auto (cuda when a device is usable, else cpu)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  cmd->callback([options, &exit_status] {
    namespace mc = muelab::models::cpu;
    if (!options->population.empty()) {
      exit_status = train_population_command(options->config, options->overrides, options->population, options->device);
      return;
    }
    if (options->out.empty()) {
      std::cerr << "muelab train: error: --out is required (or --population FILE)\n";
      exit_status = 2;
      return;
    }
    try {
      const auto run = mc::load_train_run(options->config, options->overrides);
      // Before the data loads: one thread stops OpenBLAS's spinning workers (models/cpu/src/blas.cpp).
      mc::set_thread_count(run.trainer.threads);
      const auto data = mc::make_token_source(run.data);  // before creating any output
      std::cerr << "muelab train: " << data->description() << "\n";
      const double floor = data->loss_floor(run.target.train.seq_len);
      if (floor >= 0.0)
        std::cerr << "muelab train: exact loss floor at seq_len " << run.target.train.seq_len << ": " << floor
                  << " nats/token (losses are also reported as excess over it)\n";
      // Backend selection: "auto" falls back to the CPU with a one-line notice; "cuda" without a
      // usable device (or without the CUDA module) is a clean error (exit 2), never a crash. The
      // module is opened only here, so CPU runs never pay for loading cuBLAS.
      const CudaBackendTable* cuda = nullptr;
      if (options->device != "cpu") {
        const auto backend = load_cuda_backend();
        CudaDeviceCheck status{false, backend.error};
        if (backend.table != nullptr) status = backend.table->query_device();
        if (!status.usable && options->device == "cuda") {
          std::cerr << "muelab train: error: --device cuda: " << status.message << " (accepted: cpu, auto)\n";
          exit_status = 2;
          return;
        }
        if (!status.usable) std::cerr << "muelab train: --device auto: " << status.message << "; training on the CPU\n";
        else std::cerr << "muelab train: " << status.message << "\n";
        if (status.usable) cuda = backend.table;
      }
      const auto summary =
          cuda != nullptr ? cuda->train(run, *data, options->out) : mc::train(run, *data, options->out);
      std::cout << "status " << summary.status;
      if (summary.status == "diverged") std::cout << " at step " << summary.diverged_step;
      std::cout << ", final train loss " << summary.final_train_loss << ", final validation loss "
                << summary.final_validation_loss;
      if (floor >= 0.0) std::cout << " (excess over the floor " << summary.final_validation_loss - floor << ")";
      std::cout << ", " << summary.tokens_per_s << " tokens/s, "
                << summary.wall_time_s << " s\n";
      exit_status = summary.status == "ok" ? 0 : 3;
    } catch (const muelab::theory::ConfigError& e) {
      std::cerr << "muelab train: error: " << e.what() << "\n";
      exit_status = 2;
    } catch (const mc::DataError& e) {
      std::cerr << "muelab train: error: " << e.what() << "\n";
      exit_status = 2;
    } catch (const std::exception& e) {
      std::cerr << "muelab train: error: " << e.what() << "\n";
      exit_status = 1;
    }
  });
}

}  // namespace muelab::cli
