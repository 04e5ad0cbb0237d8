#pragma once
#include <CLI/CLI.hpp>
namespace muelab::cli {
/// `muelab transfer`: the transfer-rule calculator (docs/theory.md §2–§6).
void add_transfer_command(CLI::App& app, int& exit_status);
}  // namespace muelab::cli
