#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>
namespace muelab::cli {
/// `muelab experiment`: runs registered experiment programs and gathers their verdicts.
void add_experiment_command(CLI::App& app, int& exit_status, const std::string& command_line);
}  // namespace muelab::cli
