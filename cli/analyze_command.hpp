#pragma once
#include <CLI/CLI.hpp>
namespace muelab::cli {
/// `muelab analyze DIR`: LR optima, their bootstrap CIs and drifts per doubling of a sweep's results.
void add_analyze_command(CLI::App& app, int& exit_status);
}  // namespace muelab::cli
