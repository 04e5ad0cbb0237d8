// The project's one TOML document reader and one `--set table.key=value` override, shared by the
// run configs (theory), the trainer's configs (models) and the sweep specs (experiments/sweep).
#pragma once

#include "muelab/io/input_error.hpp"

#include <toml++/toml.h>

#include <string>
#include <string_view>
#include <vector>

namespace muelab::io {

/// Parses TOML text; a syntax error is an InputError at "source:line:column", field "(syntax)".
[[nodiscard]] toml::table parse_toml_document(std::string_view text, const std::string& source);

/// Applies one override "table.key=value" to `root`: the value is read as TOML when it parses
/// (numbers, booleans, quoted strings, arrays), else taken as a bare string (model.router=softmax).
/// `accepted_tables` lists the tables an override may name (empty: any). Throws InputError naming the
/// override and the accepted tables when it is malformed.
void apply_set_override(toml::table& root, const std::string& assignment, const std::string& source,
                        const std::vector<std::string>& accepted_tables = {});

}  // namespace muelab::io
