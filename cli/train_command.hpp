// `muelab train --config RUN.toml [--set table.key=value ...] --out DIR`: the CPU reference trainer.
#pragma once

#include <CLI/CLI.hpp>

namespace muelab::cli {
void add_train_command(CLI::App& app, int& exit_status);
}  // namespace muelab::cli
