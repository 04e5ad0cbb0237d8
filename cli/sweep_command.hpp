#pragma once
#include <CLI/CLI.hpp>
namespace muelab::cli {
/// `muelab sweep`: grids over run-config keys with resume, local jobs, shards and Slurm arrays.
void add_sweep_command(CLI::App& app, int& exit_status);
}  // namespace muelab::cli
