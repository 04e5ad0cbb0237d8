#include "train_command.hpp"

#include "cuda_backend/cuda_backend.hpp"
#include "muelab/models/cpu/blas.hpp"
#include "muelab/models/cpu/trainer.hpp"

#include <iostream>
#include <memory>

namespace muelab::cli {

void add_train_command(CLI::App& app, int& exit_status) {
  struct Options {
    std::string config, out;
    std::string device = "cpu";
    std::vector<std::string> overrides;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("train", "train the toy MoE transformer (CPU reference backend or CUDA)");
  cmd->add_option("--config", options->config, "run config (TOML)")->required();
  cmd->add_option("--set", options->overrides, "override, table.key=value (repeatable)");
  cmd->add_option("--out", options->out, "output directory")->required();
  cmd->add_option("--device", options->device,
                  "backend: cpu (the reference, default), cuda, or auto (cuda when a device is usable, else cpu)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}));
  cmd->callback([options, &exit_status] {
    namespace mc = muelab::models::cpu;
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
