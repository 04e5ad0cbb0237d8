// `muelab train --config RUN.toml [--set table.key=value ...] --out DIR`: the CPU reference trainer;
// `--population FILE` instead of `--out` trains several runs of that config in one process.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace muelab::cli {
void add_train_command(CLI::App& app, int& exit_status);

/// `muelab train --config CONFIG --set COMMON... --population FILE`: every member of FILE trained in one
/// process by models::cpu::train_population (docs/development.md §1). Returns the exit status: 0 when
/// every member finished (its status, ok or diverged, is in its summary.json), 2 for bad input (nothing
/// written), 1 otherwise.
int train_population_command(const std::string& config, const std::vector<std::string>& common,
                             const std::string& population_file, const std::string& device);
}  // namespace muelab::cli
