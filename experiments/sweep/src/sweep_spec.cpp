#include "muelab/experiments/sweep.hpp"

#include "muelab/io/toml_document.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace muelab::experiments {

namespace {

const char* kSweepKeys = "name, config, command, set, seeds, seed_key";

std::string toml_value_text(const toml::node& node, const std::string& source, const std::string& field) {
  if (!(node.is_integer() || node.is_floating_point() || node.is_string() || node.is_boolean()))
    throw SweepError(source, field, "values must be numbers, strings or booleans");
  std::ostringstream out;
  node.visit([&](const auto& v) { out << v; });
  return out.str();
}

void check_key(const std::string& key, const std::string& source, const std::string& field) {
  const auto dot = key.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == key.size())
    throw SweepError(source, field, fmt::format("\"{}\" is not a run-config key of the form table.key", key));
}

std::vector<std::string> string_array(const toml::node& node, const std::string& source, const std::string& field) {
  const auto* array = node.as_array();
  if (array == nullptr) throw SweepError(source, field, "must be an array of strings");
  std::vector<std::string> out;
  for (const auto& element : *array) {
    if (!element.is_string()) throw SweepError(source, field, "must be an array of strings");
    out.push_back(element.as_string()->get());
  }
  return out;
}

}  // namespace

std::string fnv1a_hex(const std::string& bytes) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return fmt::format("{:016x}", hash);
}

SweepSpec parse_sweep_spec(const std::string& text, const std::filesystem::path& source_path, RunConfigCheck check) {
  const std::string source = source_path.string();
  toml::table root;
  try {
    root = muelab::io::parse_toml_document(text, source);
  } catch (const muelab::io::InputError& e) {
    throw SweepError(e.source(), e.field(), e.message());
  }
  for (const auto& [key, node] : root) {
    const std::string k(key.str());
    if (k != "sweep" && k != "grid" && k != "points")
      throw SweepError(source, k, "unknown table (accepted: sweep, grid, points)");
  }
  SweepSpec spec;
  spec.source = source_path;
  const auto* sweep = root["sweep"].as_table();
  if (sweep == nullptr) throw SweepError(source, "sweep", "missing table [sweep] (keys: " + std::string(kSweepKeys) + ")");
  for (const auto& [key, node] : *sweep) {
    const std::string k(key.str());
    const std::string field = "sweep." + k;
    if (k == "name") {
      if (!node.is_string()) throw SweepError(source, field, "must be a string");
      spec.name = node.as_string()->get();
    } else if (k == "config") {
      if (!node.is_string()) throw SweepError(source, field, "must be a string (path of the run config)");
      spec.run_config = source_path.parent_path() / node.as_string()->get();
    } else if (k == "command") {
      spec.command = string_array(node, source, field);
      if (spec.command.empty()) throw SweepError(source, field, "must name a program");
    } else if (k == "set") {
      spec.fixed = string_array(node, source, field);
      for (const auto& s : spec.fixed) {
        const auto eq = s.find('=');
        if (eq == std::string::npos) throw SweepError(source, field, fmt::format("\"{}\" is not key=value", s));
        check_key(s.substr(0, eq), source, field);
      }
    } else if (k == "seeds") {
      const auto* array = node.as_array();
      if (array == nullptr || array->empty()) throw SweepError(source, field, "must be a non-empty array of integers");
      for (const auto& element : *array) {
        if (!element.is_integer()) throw SweepError(source, field, "must be a non-empty array of integers");
        spec.seeds.push_back(fmt::format("{}", element.as_integer()->get()));
      }
    } else if (k == "seed_key") {
      if (!node.is_string()) throw SweepError(source, field, "must be a string");
      spec.seed_key = node.as_string()->get();
      check_key(spec.seed_key, source, field);
    } else {
      throw SweepError(source, field, std::string("unknown key (accepted in [sweep]: ") + kSweepKeys + ")");
    }
  }
  if (spec.run_config.empty()) throw SweepError(source, "sweep.config", "missing (required: path of the run config)");
  if (check == RunConfigCheck::required && !std::filesystem::is_regular_file(spec.run_config))
    throw SweepError(source, "sweep.config", fmt::format("{} does not exist", spec.run_config.string()));
  if (spec.name.empty()) spec.name = source_path.stem().string();

  std::set<std::string> seen;
  const auto claim_key = [&](const std::string& key, const std::string& field) {
    check_key(key, source, field);
    if (!seen.insert(key).second) throw SweepError(source, field, fmt::format("key \"{}\" is swept twice", key));
  };
  if (const auto* grid = root["grid"].as_table()) {
    for (const auto& [key, node] : *grid) {
      const std::string k(key.str());
      const std::string field = "grid." + k;
      claim_key(k, field);
      const auto* array = node.as_array();
      if (array == nullptr || array->empty()) throw SweepError(source, field, "must be a non-empty array of values");
      std::vector<std::string> values;
      for (const auto& element : *array) values.push_back(toml_value_text(element, source, field));
      std::set<std::string> unique(values.begin(), values.end());
      if (unique.size() != values.size()) throw SweepError(source, field, "repeats a value (runs would be duplicates)");
      spec.grid.emplace_back(k, std::move(values));
    }
  } else if (root.contains("grid")) {
    throw SweepError(source, "grid", "must be a table of key = [values]");
  }
  if (root.contains("points")) {
    const auto* points = root["points"].as_array();
    if (points == nullptr || !points->is_array_of_tables())
      throw SweepError(source, "points", "must be an array of tables ([[points]])");
    std::set<std::string> point_keys;
    for (const auto& p : *points) {
      std::vector<std::pair<std::string, std::string>> point;
      for (const auto& [key, node] : *p.as_table()) {
        const std::string k(key.str());
        check_key(k, source, "points." + k);
        for (const auto& [g, values] : spec.grid)
          if (g == k) throw SweepError(source, "points." + k, "is also a grid key");
        point_keys.insert(k);
        point.emplace_back(k, toml_value_text(node, source, "points." + k));
      }
      spec.points.push_back(std::move(point));
    }
    for (const auto& k : point_keys) seen.insert(k);
  }
  if (!spec.seeds.empty()) claim_key(spec.seed_key, "sweep.seed_key");
  for (const auto& s : spec.fixed)
    if (seen.count(s.substr(0, s.find('='))) != 0)
      throw SweepError(source, "sweep.set", fmt::format("\"{}\" fixes a key that is also swept", s));
  return spec;
}

SweepSpec load_sweep_spec(const std::filesystem::path& file, RunConfigCheck check) {
  std::ifstream in(file);
  if (!in) throw SweepError(file.string(), "(file)", "cannot be read (does the file exist?)");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_sweep_spec(text.str(), file, check);
}

std::vector<std::string> swept_keys(const SweepSpec& spec) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : spec.grid) keys.push_back(k);
  for (const auto& point : spec.points)
    for (const auto& [k, v] : point)
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  if (!spec.seeds.empty()) keys.push_back(spec.seed_key);
  return keys;
}

std::vector<SweepRun> expand_sweep(const SweepSpec& spec) {
  std::ifstream in(spec.run_config, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const std::string config_bytes = bytes.str();

  // Product over the grid (last key fastest), times each point (or one empty point), times seeds.
  std::vector<std::vector<std::pair<std::string, std::string>>> combinations = {{}};
  for (const auto& [key, values] : spec.grid) {
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& partial : combinations)
      for (const auto& value : values) {
        auto extended = partial;
        extended.emplace_back(key, value);
        next.push_back(std::move(extended));
      }
    combinations = std::move(next);
  }
  if (!spec.points.empty()) {
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& partial : combinations)
      for (const auto& point : spec.points) {
        auto extended = partial;
        extended.insert(extended.end(), point.begin(), point.end());
        next.push_back(std::move(extended));
      }
    combinations = std::move(next);
  }
  if (!spec.seeds.empty()) {
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& partial : combinations)
      for (const auto& seed : spec.seeds) {
        auto extended = partial;
        extended.emplace_back(spec.seed_key, seed);
        next.push_back(std::move(extended));
      }
    combinations = std::move(next);
  }
  std::vector<SweepRun> runs;
  for (auto& values : combinations) {
    SweepRun run;
    run.index = runs.size();
    run.overrides = spec.fixed;
    for (const auto& [k, v] : values) run.overrides.push_back(k + "=" + v);
    auto sorted = run.overrides;
    std::sort(sorted.begin(), sorted.end());
    std::string identity = config_bytes;
    identity.push_back('\0');
    for (const auto& s : sorted) identity += s + "\n";
    run.id = fnv1a_hex(identity);
    run.values = std::move(values);
    runs.push_back(std::move(run));
  }
  return runs;
}

}  // namespace muelab::experiments
