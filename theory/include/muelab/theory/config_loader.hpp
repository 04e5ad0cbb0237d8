// Loading and validating configuration files (TOML). Every problem is reported as a ConfigError
// naming the file, the field and the accepted values, so the CLI can print one line and exit 2.
#pragma once

#include "muelab/io/input_error.hpp"

#include "muelab/theory/config.hpp"

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace muelab::theory {

class ConfigError : public io::InputError {
 public:
  using io::InputError::InputError;
};

/// A base config must carry [optim] (the tuned hyperparameters) and no [rule]; a target config may
/// carry [rule] (the switches) and an [optim] table holding at most `name`.
enum class ConfigRole { base, target };

/// Parses TOML text. `overrides` are "table.key=value" strings applied before validation (the value
/// is read as a TOML value; anything that is not one is taken as a string). `extra_tables` names
/// top-level tables that a caller (e.g. the trainer's run config) reads itself: they are accepted
/// here, left unread, and may be the target of overrides.
[[nodiscard]] RunConfig parse_run_config(std::string_view toml_text, const std::string& source_name, ConfigRole role,
                                         const std::vector<std::string>& overrides = {},
                                         const std::vector<std::string>& extra_tables = {});

[[nodiscard]] RunConfig load_run_config(const std::filesystem::path& file, ConfigRole role,
                                        const std::vector<std::string>& overrides = {},
                                        const std::vector<std::string>& extra_tables = {});

/// Semantic checks that need the whole config (sizes, divisibility, a ≤ N, ...). Called by the loaders.
void validate_run_config(const RunConfig& config, const std::string& source_name, ConfigRole role);

}  // namespace muelab::theory
