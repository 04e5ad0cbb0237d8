#pragma once
#include "muelab/experiments/verdicts.hpp"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>
namespace muelab::cli {
/// `muelab experiment`: runs registered experiment programs and gathers their verdicts.
void add_experiment_command(CLI::App& app, int& exit_status);
/// OUT/REPORT.md: one row per verdict of every report, with links to its figures (experiment name ->
/// paths relative to OUT). Shared by `muelab experiment` and `muelab figures`.
void write_report(const std::filesystem::path& out, const std::vector<experiments::VerdictReport>& reports,
                  const std::string& profile, double seconds,
                  const std::map<std::string, std::vector<std::string>>& figures = {});
}  // namespace muelab::cli
