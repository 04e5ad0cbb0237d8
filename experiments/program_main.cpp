// main() of the stand-alone experiment programs. Compiled into muelab_experiment_catalog (not the
// support library) because it calls global_registry(), which the generated catalog defines: keeping
// caller and definition in one archive keeps the static link order one-way.
#include "muelab/experiments/registry.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>

namespace muelab::experiments {

int experiment_program_main(const std::string& name, int argc, char** argv) {
  const Experiment* experiment = global_registry().find(name);
  if (experiment == nullptr) {
    std::cerr << "muelab: error: experiment " << name << " is not linked into this program\n";
    return 2;
  }
  CLI::App app{experiment->description, name};
  ExperimentOptions options;
  std::string profile = "quick";
  std::string out = "results/quick/" + name;
  app.add_option("--profile", profile, "smoke (seconds, ctest), quick (minutes, main job) or full (the evidence)")
      ->check(CLI::IsMember(profile_names()));
  app.add_option("--seed", options.seed, "base seed (printed and written to run.json)");
  app.add_option("--out", out, "output folder");
  app.add_option("--threads", options.threads, "OpenMP threads (0: default)")->check(CLI::NonNegativeNumber);
  bool no_plot = false;
  app.add_flag("--no-plot", no_plot, "do not draw the figure");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  options.profile = *parse_profile(profile);
  options.command = command_line(argc, argv);
  options.out_dir = out;
  options.plot = !no_plot;
  try {
    return run_experiment(*experiment, options).all_as_expected() ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "muelab: error: " << name << ": " << e.what() << "\n";
    return 2;
  }
}

}  // namespace muelab::experiments
