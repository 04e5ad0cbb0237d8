#include "muelab/experiments/registry.hpp"

#include "muelab/experiments/output.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <omp.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

namespace muelab::experiments {

std::string to_string(Profile profile) { return profile == Profile::quick ? "quick" : "full"; }

void Registry::add(Experiment experiment) {
  if (experiments_.count(experiment.name) != 0)
    throw std::logic_error("experiment registered twice: " + experiment.name);
  auto name = experiment.name;
  experiments_.emplace(std::move(name), std::move(experiment));
}

const Experiment* Registry::find(const std::string& name) const {
  const auto it = experiments_.find(name);
  return it == experiments_.end() ? nullptr : &it->second;
}

std::vector<const Experiment*> Registry::all() const {
  std::vector<const Experiment*> list;
  for (const auto& [name, experiment] : experiments_) list.push_back(&experiment);
  return list;
}

namespace {
void draw_figure(const Experiment& experiment, const ExperimentOptions& options) {
  if (experiment.plot_script.empty() || !options.plot) return;
  const auto script = source_directory() / "plots" / experiment.plot_script;
  const std::string command =
      fmt::format("/usr/bin/python3 '{}' '{}'", script.string(), options.out_dir.string());
  if (std::system(command.c_str()) != 0)
    std::cerr << fmt::format("muelab: warning: figure script {} failed (is python3-matplotlib installed?)\n",
                             script.string());
}
}  // namespace

VerdictReport run_experiment(const Experiment& experiment, const ExperimentOptions& options) {
  std::filesystem::create_directories(options.out_dir);
  if (options.threads > 0) omp_set_num_threads(options.threads);
  const nlohmann::json run_info = {{"experiment", experiment.name},
                                   {"profile", to_string(options.profile)},
                                   {"seed", options.seed},
                                   {"threads", omp_get_max_threads()},
                                   {"revision", source_revision()},
                                   {"machine", machine_description()}};
  write_file_atomically(options.out_dir / "run.json", run_info.dump(2) + "\n");
  std::cout << fmt::format("== {} ({} profile, seed {}) -> {}\n", experiment.name, to_string(options.profile),
                           options.seed, options.out_dir.string())
            << std::flush;
  const auto start = std::chrono::steady_clock::now();
  auto report = experiment.run(options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.experiment = experiment.name;
  report.profile = to_string(options.profile);
  report.seed = options.seed;
  report.write(options.out_dir / "verdicts.json");
  std::cout << report.summary() << fmt::format("   ({:.1f} s)\n", seconds) << std::flush;
  draw_figure(experiment, options);
  return report;
}

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
  app.add_option("--profile", profile, "quick (CI, minutes) or full (paper figures)")
      ->check(CLI::IsMember({"quick", "full"}));
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
  options.profile = profile == "full" ? Profile::full : Profile::quick;
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
