// muelab: hyperparameter transfer for Mixture-of-Experts transformers.
#include "analyze_command.hpp"
#include "experiment_command.hpp"
#include "figures_command.hpp"
#include "muelab/experiments/registry.hpp"
#include "muelab/models/cpu/blas.hpp"
#include "sweep_command.hpp"
#include "train_command.hpp"
#include "transfer_command.hpp"

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>
#include <stdexcept>

int main(int argc, char** argv) {
  // MUELAB_GEMM (docs/development.md §1) is read at the first matrix product, after a run has started
  // writing its outputs: check it before any command runs, so a bad value writes nothing.
  if (const char* engine = std::getenv("MUELAB_GEMM"); engine != nullptr) {
    try {
      (void)muelab::models::cpu::gemm_engine_from_name(engine);
    } catch (const std::invalid_argument& e) {
      std::cerr << "muelab: error: " << e.what() << "\n";
      return 2;
    }
  }
  CLI::App app{"muelab — compute, simulate and check hyperparameter transfer for MoE transformers", "muelab"};
  app.require_subcommand(1);
  int exit_status = 0;
  muelab::cli::add_transfer_command(app, exit_status);
  muelab::cli::add_switches_command(app);
  const std::string command = muelab::experiments::command_line(argc, argv);
  muelab::cli::add_experiment_command(app, exit_status, command);
  muelab::cli::add_sweep_command(app, exit_status);
  muelab::cli::add_train_command(app, exit_status);
  muelab::cli::add_analyze_command(app, exit_status);
  muelab::cli::add_figures_command(app, exit_status, command);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    // One line, naming the option and what it accepts; nothing on stdout.
    std::cerr << "muelab: error: " << e.what() << " (see muelab --help)\n";
    return 2;
  }
  return exit_status;
}
