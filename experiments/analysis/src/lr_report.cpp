#include "muelab/analysis/lr_report.hpp"

#include <fmt/format.h>

#include <set>

namespace muelab::analysis {

namespace {
std::vector<std::string> axis_names(const LrAnalysis& a) {
  std::set<std::string> names;
  for (const auto& c : a.curves)
    for (const auto& [k, v] : c.axes) names.insert(k);
  return {names.begin(), names.end()};
}
std::string value_or_empty(const std::map<std::string, std::string>& m, const std::string& k) {
  const auto it = m.find(k);
  return it == m.end() ? std::string() : it->second;
}
}  // namespace

experiments::CsvTable optima_table(const LrAnalysis& a) {
  const auto names = axis_names(a);
  std::vector<std::string> columns = {"curve"};
  columns.insert(columns.end(), names.begin(), names.end());
  for (const char* c : {"log2_lr_star", "ci_low", "ci_high", "loss_star", "at_edge", "seeds"}) columns.emplace_back(c);
  experiments::CsvTable t(columns);
  for (std::size_t i = 0; i < a.curves.size(); ++i) {
    const auto& c = a.curves[i];
    std::vector<experiments::CsvTable::Cell> row = {static_cast<long long>(i)};
    for (const auto& n : names) row.emplace_back(value_or_empty(c.axes, n));
    row.insert(row.end(), {c.optimum.log2_lr, c.ci.low, c.ci.high, c.optimum.loss,
                           static_cast<long long>(c.optimum.at_edge ? 1 : 0), static_cast<long long>(c.seeds.size())});
    t.add_row(std::move(row));
  }
  return t;
}

experiments::CsvTable curves_table(const LrAnalysis& a) {
  const auto names = axis_names(a);
  std::vector<std::string> columns = {"curve"};
  columns.insert(columns.end(), names.begin(), names.end());
  for (const char* c : {"log2_lr", "mean_loss", "standard_error"}) columns.emplace_back(c);
  experiments::CsvTable t(columns);
  for (std::size_t i = 0; i < a.curves.size(); ++i) {
    const auto& c = a.curves[i];
    for (std::size_t k = 0; k < c.log2_lr.size(); ++k) {
      std::vector<experiments::CsvTable::Cell> row = {static_cast<long long>(i)};
      for (const auto& n : names) row.emplace_back(value_or_empty(c.axes, n));
      row.insert(row.end(), {c.log2_lr[k], c.mean_loss[k], c.standard_error[k]});
      t.add_row(std::move(row));
    }
  }
  return t;
}

experiments::CsvTable drifts_table(const LrAnalysis& a) {
  experiments::CsvTable t({"axis", "slice", "drift_per_doubling", "ci_low", "ci_high", "grid_step", "edge_optima",
                           "points", "below_grid_step"});
  for (const auto& d : a.drifts)
    t.add_row({d.axis, describe(d.slice), d.drift, d.ci.low, d.ci.high, d.grid_step,
               static_cast<long long>(d.edge_optima), static_cast<long long>(d.axis_values.size()),
               static_cast<long long>(d.below_grid_step() ? 1 : 0)});
  return t;
}

std::vector<experiments::Verdict> drift_verdicts(const LrAnalysis& a, const std::string& claim,
                                                 const std::function<bool(const LrDrift&)>& is_control,
                                                 const std::string& case_prefix) {
  std::vector<experiments::Verdict> rows;
  for (const auto& d : a.drifts) {
    const bool control = is_control && is_control(d);
    std::string name = fmt::format("{}{}d log2 lr*/d log2 {} over {:g}..{:g} [{}]", case_prefix, control ? "control: " : "",
                                   d.axis, d.axis_values.front(), d.axis_values.back(), describe(d.slice));
    if (d.edge_optima > 0) name += fmt::format(" ({} optima at the grid edge)", d.edge_optima);
    rows.push_back(experiments::judge_within_tolerance(claim, name,
                                                       control ? experiments::VerdictKind::control : experiments::VerdictKind::claim,
                                                       d.drift, d.ci.low, d.ci.high, 0.0, d.grid_step));
  }
  return rows;
}

}  // namespace muelab::analysis
