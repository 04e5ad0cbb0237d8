#include "muelab/analysis/lr_report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
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
                           "points", "doublings"});
  for (const auto& d : a.drifts)
    t.add_row({d.axis, describe(d.slice), d.drift, d.ci.low, d.ci.high, d.grid_step,
               static_cast<long long>(d.edge_optima), static_cast<long long>(d.axis_values.size()), d.doublings()});
  return t;
}

double StaysPut::bound(double doublings) const {
  return doublings > 0.0 ? std::min(per_doubling, total / doublings) : per_doubling;
}

std::vector<GridExtension> grid_extensions(const LrAnalysis& a, const experiments::EdgePolicy& policy) {
  // The declared grid: the LRs every curve has; points beyond it were added by earlier extensions.
  std::set<double> shared;
  if (!a.curves.empty()) shared.insert(a.curves.front().log2_lr.begin(), a.curves.front().log2_lr.end());
  for (const auto& c : a.curves) {
    std::set<double> mine(c.log2_lr.begin(), c.log2_lr.end()), kept;
    std::set_intersection(shared.begin(), shared.end(), mine.begin(), mine.end(), std::inserter(kept, kept.end()));
    shared = std::move(kept);
  }
  std::vector<GridExtension> out;
  for (std::size_t i = 0; i < a.curves.size(); ++i) {
    const auto& c = a.curves[i];
    const auto where = experiments::locate_minimum(c.log2_lr, c.mean_loss);
    if (where.edge != experiments::GridEdge::low && where.edge != experiments::GridEdge::high) continue;
    const int extra = static_cast<int>(std::count_if(c.log2_lr.begin(), c.log2_lr.end(),
                                                     [&](double x) { return shared.count(x) == 0; }));
    out.push_back({i, c.axes, where.edge, experiments::points_to_add(c.log2_lr, c.mean_loss, extra, policy)});
  }
  return out;
}

experiments::CsvTable grid_extensions_table(const LrAnalysis& a, const std::vector<GridExtension>& extensions) {
  const auto names = axis_names(a);
  std::vector<std::string> columns = {"curve"};
  columns.insert(columns.end(), names.begin(), names.end());
  for (const char* c : {"edge", "log2_lr", "lr"}) columns.emplace_back(c);
  experiments::CsvTable t(columns);
  for (const auto& e : extensions)
    for (const double x : e.log2_lr_to_add) {
      std::vector<experiments::CsvTable::Cell> row = {static_cast<long long>(e.curve)};
      for (const auto& n : names) row.emplace_back(value_or_empty(e.axes, n));
      row.insert(row.end(), {experiments::to_string(e.edge), x, std::exp2(x)});
      t.add_row(std::move(row));
    }
  return t;
}

std::string drift_case(const LrDrift& d, const std::string& case_prefix, const std::string& knob) {
  std::string axis = d.axis;
  for (const auto& k : d.lockstep) axis += " (with " + k + " in lockstep)";
  return fmt::format("{}d log2 {}*/d log2 {} over {:g}..{:g}{}", case_prefix, knob, axis, d.axis_values.front(),
                     d.axis_values.back(), d.slice.empty() ? std::string() : " [" + describe(d.slice) + "]");
}

namespace {
std::string edge_reason(const LrDrift& d) {
  return fmt::format("optimum at grid edge ({} of {} curves)", d.edge_optima, d.curves.size());
}
}  // namespace

std::vector<experiments::Verdict> drift_verdicts(const LrAnalysis& a, const experiments::ClaimSpec& spec,
                                                 const StaysPut& stays_put,
                                                 const std::function<bool(const LrDrift&)>& is_control,
                                                 const std::string& case_prefix, const std::string& knob) {
  std::vector<experiments::Verdict> rows;
  for (const auto& d : a.drifts) {
    const bool control = is_control && is_control(d);
    auto row_spec = control ? experiments::as_control(spec) : spec;
    row_spec.tolerance = stays_put.bound(d.doublings());
    const std::string name = drift_case(d, case_prefix + (control ? "control: " : ""), knob);
    rows.push_back(d.edge_optima > 0 ? experiments::not_measured(row_spec, name, edge_reason(d), d.drift, d.ci.low, d.ci.high)
                                     : experiments::judge(row_spec, name, d.drift, d.ci.low, d.ci.high));
  }
  return rows;
}

experiments::Verdict discrimination_verdict(const experiments::ClaimSpec& spec, const std::string& case_name,
                                            const LrAnalysis& rule_analysis, const LrDrift& rule_drift,
                                            const LrAnalysis& control_analysis, const LrDrift& control_drift,
                                            std::uint64_t seed, std::size_t resamples) {
  const auto diff = paired_drift_difference(rule_analysis, rule_drift, control_analysis, control_drift, seed, resamples);
  if (rule_drift.edge_optima > 0 || control_drift.edge_optima > 0)
    return experiments::not_measured(spec, case_name,
                                     fmt::format("optimum at grid edge ({} + {} curves)", rule_drift.edge_optima,
                                                 control_drift.edge_optima),
                                     diff.difference, diff.ci.low, diff.ci.high);
  return experiments::judge(spec, case_name, diff.difference, diff.ci.low, diff.ci.high);
}

std::size_t mark_not_informative(std::vector<experiments::Verdict>& claim_rows, const experiments::Verdict& power_row,
                                 const std::string& control_name) {
  if (power_row.fails()) return 0;
  std::size_t changed = 0;
  for (auto& row : claim_rows)
    if (row.kind == experiments::VerdictKind::claim && row.holds()) {
      row.outcome = experiments::Outcome::inconclusive;
      row.reason = power_row.holds() ? fmt::format("not informative: the wrong rule ({}) also holds", control_name)
                                     : fmt::format("not informative: the {} did not fail", control_name);
      ++changed;
    }
  return changed;
}

}  // namespace muelab::analysis
