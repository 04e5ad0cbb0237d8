#pragma once
#include <CLI/CLI.hpp>
namespace muelab::cli {
/// `muelab transfer`: the transfer-rule calculator (docs/theory.md §2–§6).
void add_transfer_command(CLI::App& app, int& exit_status);
/// `muelab switches`: the rule-switch table (muelab/theory/rule_switches.hpp) as text or markdown.
void add_switches_command(CLI::App& app);
}  // namespace muelab::cli
