#pragma once
#include <CLI/CLI.hpp>
namespace muelab::cli {
/// `muelab experiment`: runs registered experiment programs and gathers their verdicts.
void add_experiment_command(CLI::App& app, int& exit_status);
}  // namespace muelab::cli
