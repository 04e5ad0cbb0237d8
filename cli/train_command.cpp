#include "train_command.hpp"

#include "muelab/models/cpu/trainer.hpp"

#include <iostream>
#include <memory>

namespace muelab::cli {

void add_train_command(CLI::App& app, int& exit_status) {
  struct Options {
    std::string config, out;
    std::vector<std::string> overrides;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("train", "train the toy MoE transformer on the CPU (models/cpu)");
  cmd->add_option("--config", options->config, "run config (TOML)")->required();
  cmd->add_option("--set", options->overrides, "override, table.key=value (repeatable)");
  cmd->add_option("--out", options->out, "output directory")->required();
  cmd->callback([options, &exit_status] {
    namespace mc = muelab::models::cpu;
    try {
      const auto run = mc::load_train_run(options->config, options->overrides);
      const auto data = mc::make_token_source(run.data);  // before creating any output
      std::cerr << "muelab train: " << data->description() << "\n";
      const auto summary = mc::train(run, *data, options->out);
      std::cout << "status " << summary.status;
      if (summary.status == "diverged") std::cout << " at step " << summary.diverged_step;
      std::cout << ", final train loss " << summary.final_train_loss << ", final validation loss "
                << summary.final_validation_loss << ", " << summary.tokens_per_s << " tokens/s, "
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
