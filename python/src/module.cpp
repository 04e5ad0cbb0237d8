// The compiled core of the Python package `muelab` (python/muelab/__init__.py wraps it): the rule
// engine of docs/theory.md §2–§6 on TOML text, returning the JSON contract of `muelab transfer
// --format json` as a string. Bad input raises ValueError carrying the line the CLI prints after
// "muelab: error: " (the same ConfigError / RuleRefusal texts; docs/development.md §2, "Python").
#include "muelab/theory/config_loader.hpp"
#include "muelab/theory/report.hpp"
#include "muelab/theory/rule_switches.hpp"
#include "muelab/theory/sde_scaling.hpp"
#include "muelab/theory/transfer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

namespace py = pybind11;

namespace {

using namespace muelab::theory;

std::vector<RuleSource> rules_named(const std::string& rule) {
  if (rule == "all") return all_rule_sources();
  if (const auto parsed = parse_rule_source(rule)) return {*parsed};
  throw py::value_error(
      fmt::format("--rule: unknown rule source \"{}\" (accepted: {}, all)", rule, accepted_rule_names()));
}

/// Same contract as `muelab transfer --format json`: one result object, or {"rules": [...]} for "all".
std::string transfer_json(const std::string& base_text, const std::string& base_name, const std::string& target_text,
                          const std::string& target_name, const std::string& rule,
                          const std::vector<std::string>& base_overrides,
                          const std::vector<std::string>& target_overrides) {
  const auto rules = rules_named(rule);
  std::string source = base_name;
  try {
    const RunConfig base = parse_run_config(base_text, base_name, ConfigRole::base, base_overrides);
    source = target_name;
    const RunConfig target = parse_run_config(target_text, target_name, ConfigRole::target, target_overrides);
    if (rule != "all") return to_json(transfer(base, target, rules.front())).dump(2);
    nlohmann::json all = nlohmann::json::array();
    for (const auto r : rules) all.push_back(to_json(transfer(base, target, r)));
    return nlohmann::json{{"rules", all}}.dump(2);
  } catch (const ConfigError& e) {
    throw py::value_error(e.what());
  } catch (const RuleRefusal& e) {
    throw py::value_error(fmt::format("{}: field {}: {}", source, e.field(), e.what()));
  }
}

}  // namespace

PYBIND11_MODULE(_muelab, m) {
  m.doc() = "muelab's rule engine (docs/theory.md §2-§6); use the wrappers in the muelab package";
  m.def("transfer_json", &transfer_json, py::arg("base_text"), py::arg("base_name"), py::arg("target_text"),
        py::arg("target_name"), py::arg("rule"), py::arg("base_overrides"), py::arg("target_overrides"));
  m.def("rule_names", [] {
    std::vector<std::string> names;
    for (const auto r : all_rule_sources()) names.push_back(rule_name(r));
    return names;
  });
  m.def("switches_markdown", &rule_switch_markdown_table);
  m.attr("version") = MUELAB_VERSION;
}
