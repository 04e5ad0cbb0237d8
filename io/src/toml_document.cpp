#include "muelab/io/toml_document.hpp"
#include "muelab/io/input_error.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace muelab::io {

toml::table parse_toml_document(std::string_view text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& error) {
    throw InputError(fmt::format("{}:{}:{}", source, error.source().begin.line, error.source().begin.column), "(syntax)",
                     std::string(error.description()));
  }
}

void apply_set_override(toml::table& root, const std::string& assignment, const std::string& source,
                        const std::vector<std::string>& accepted_tables) {
  std::string accepted;
  for (const auto& t : accepted_tables) accepted += (accepted.empty() ? "" : ", ") + t;
  const std::string tables = accepted.empty() ? std::string("any table") : "tables: " + accepted;
  const std::string where = source + " (--set " + assignment + ")";
  const auto equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0)
    throw InputError(where, assignment, "expected table.key=value (" + tables + ")");
  const std::string key = assignment.substr(0, equals), value = assignment.substr(equals + 1);
  const auto dot = key.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == key.size() || key.find('.', dot + 1) != std::string::npos)
    throw InputError(where, key, "expected a key of the form table.key (" + tables + ")");
  const std::string table_name = key.substr(0, dot), field = key.substr(dot + 1);
  if (!accepted_tables.empty() &&
      std::find(accepted_tables.begin(), accepted_tables.end(), table_name) == accepted_tables.end())
    throw InputError(where, key, "unknown table \"" + table_name + "\" (accepted: " + accepted + ")");
  toml::table* table = root[table_name].as_table();
  if (table == nullptr) {
    if (root.contains(table_name)) throw InputError(where, table_name, "is not a table");
    root.insert(table_name, toml::table{});
    table = root[table_name].as_table();
  }
  try {
    const toml::table parsed = toml::parse("v = " + value);
    if (const toml::node* node = parsed.get("v")) {
      table->insert_or_assign(field, *node);
      return;
    }
  } catch (const toml::parse_error&) {
    // not a TOML value: taken as a bare string below
  }
  table->insert_or_assign(field, value);
}

}  // namespace muelab::io
