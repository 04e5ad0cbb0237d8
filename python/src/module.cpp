// The compiled core of the Python package `muelab` (python/muelab/__init__.py wraps it): the rule
// engine of docs/theory.md §2–§6 on TOML text, returning the JSON contract of `muelab transfer
// --format json` as a string. Bad input raises ValueError carrying the line the CLI prints after
// "muelab: error: " (the same ConfigError / RuleRefusal texts; docs/development.md §2, "Python").
// `coord_slopes` runs the C++ coordinate-check analysis (slopes, bootstrap CIs, three-valued verdicts)
// on measurements taken in Python, so muelab.torch.coord_check judges exactly as `coord-check` does.
#include "muelab/analysis/coord_analysis.hpp"
#include "muelab/experiments/verdicts.hpp"
#include "muelab/theory/config_loader.hpp"
#include "muelab/theory/report.hpp"
#include "muelab/theory/rule_switches.hpp"
#include "muelab/theory/sde_scaling.hpp"
#include "muelab/theory/transfer.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
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

/// Slopes, CIs and verdicts of coordinate sizes taken in Python (muelab.torch.coord_check): one dict per
/// (rule, quantity, axis, step), judged against 0 ± tolerance (docs/claims.md `coord-check`); rules in
/// `control_rules` are control rows. Malformed measurements raise ValueError.
py::list coord_slopes(const std::vector<std::string>& rules, const std::vector<std::string>& quantities,
                      const std::vector<std::string>& axes, const std::vector<std::int64_t>& steps,
                      const std::vector<double>& axis_values, const std::vector<std::string>& seeds,
                      const std::vector<double>& values, const std::vector<std::string>& control_rules,
                      double tolerance, std::uint64_t seed, std::size_t resamples) {
  namespace ma = muelab::analysis;
  const std::size_t n = rules.size();
  if (quantities.size() != n || axes.size() != n || steps.size() != n || axis_values.size() != n || seeds.size() != n ||
      values.size() != n)
    throw py::value_error("coord_slopes: every measurement column must have the same length");
  if (!(tolerance >= 0.0)) throw py::value_error("tolerance: must be >= 0");
  std::vector<ma::CoordMeasurement> measurements(n);
  for (std::size_t i = 0; i < n; ++i)
    measurements[i] = {rules[i], quantities[i], axes[i], steps[i], axis_values[i], seeds[i], values[i]};
  std::vector<ma::CoordSlope> slopes;
  try {
    slopes = ma::analyze_coord_measurements(measurements, seed, resamples);
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
  const auto is_control = [&](const std::string& rule) {
    return std::find(control_rules.begin(), control_rules.end(), rule) != control_rules.end();
  };
  const auto verdicts = ma::coord_slope_verdicts(slopes, is_control, ma::coord_check_spec("coord-check", tolerance));
  py::list out;
  std::size_t judged = 0;
  for (const auto& s : slopes) {
    py::dict row;
    row["rule"] = s.rule;
    row["quantity"] = s.quantity;
    row["axis"] = s.axis;
    row["step"] = s.step;
    row["axis_values"] = s.axis_values;
    row["seeds"] = s.seeds;
    row["slope"] = s.estimate.slope;
    row["ci"] = py::make_tuple(s.estimate.ci.low, s.estimate.ci.high);
    if (s.exception) {
      row["kind"] = "not judged";
      row["verdict"] = "not judged";
      row["reason"] = *s.exception;
    } else {
      const auto& v = verdicts.at(judged++);
      row["kind"] = muelab::experiments::to_string(v.kind);
      row["verdict"] = muelab::experiments::to_string(v.outcome);
      row["reason"] = v.reason;
      row["as_expected"] = v.as_expected();
    }
    out.append(row);
  }
  return out;
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
  m.def("coord_slopes", &coord_slopes, py::arg("rules"), py::arg("quantities"), py::arg("axes"), py::arg("steps"),
        py::arg("axis_values"), py::arg("seeds"), py::arg("values"), py::arg("control_rules"), py::arg("tolerance"),
        py::arg("seed"), py::arg("resamples"));
  m.attr("version") = MUELAB_VERSION;
}
