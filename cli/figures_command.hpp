#pragma once
#include <CLI/CLI.hpp>

#include <string>
namespace muelab::cli {
/// `muelab figures --profile quick|full [--out results]`: the main job — every registered experiment,
/// all figures into OUT/figures/, and OUT/PROFILE/REPORT.md with one row per claim verdict.
void add_figures_command(CLI::App& app, int& exit_status, const std::string& command_line);
}  // namespace muelab::cli
