#include "muelab/analysis/coord_analysis.hpp"

#include "muelab/io/csv.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <tuple>

namespace muelab::analysis {

std::optional<std::string> coord_check_exception(const std::string& quantity, std::int64_t step) {
  if (step != 0) return std::nullopt;
  if (quantity.starts_with("output_logits"))
    return "exception (docs/claims.md, coord-check): output logits at the first step (init) are not required to be "
           "width-independent (muP-type readouts make them vanish ~ d^-1/2); reported, not judged";
  if (quantity.starts_with("attention_logits"))
    return "exception (docs/claims.md, coord-check): attention logits at the first step (init) are not required to be "
           "width-independent (1/d_head scaling shrinks them at init); reported, not judged";
  return std::nullopt;
}

std::vector<CoordSlope> analyze_coord_measurements(const std::vector<CoordMeasurement>& measurements,
                                                   std::uint64_t seed, std::size_t resamples) {
  using Key = std::tuple<std::string, std::string, std::string, std::int64_t>;  // rule, quantity, axis, step
  std::map<Key, std::map<std::string, std::map<double, double>>> groups;          // seed -> axis value -> size
  for (const auto& m : measurements) {
    auto& cell = groups[{m.rule, m.quantity, m.axis, m.step}][m.seed];
    if (cell.count(m.axis_value) != 0)
      throw std::invalid_argument(fmt::format("coord-check data: duplicate measurement rule={} quantity={} axis={} "
                                              "step={} {}={:g} seed={}",
                                              m.rule, m.quantity, m.axis, m.step, m.axis, m.axis_value, m.seed));
    cell[m.axis_value] = m.value;
  }
  std::vector<CoordSlope> slopes;
  std::uint64_t index = 0;
  for (const auto& [key, by_seed] : groups) {
    const auto& [rule, quantity, axis, step] = key;
    const std::string name = fmt::format("rule={} quantity={} axis={} step={}", rule, quantity, axis, step);
    std::set<double> axis_set;
    for (const auto& [s, sizes] : by_seed)
      for (const auto& [x, v] : sizes) axis_set.insert(x);
    const std::vector<double> axis_values(axis_set.begin(), axis_set.end());
    if (axis_values.size() < 2 || !(axis_values.front() > 0.0))
      throw std::invalid_argument(fmt::format("coord-check data: {}: need >= 2 positive axis values", name));
    std::vector<std::vector<double>> values;  // [seed][axis value], complete seeds only
    for (const auto& [s, sizes] : by_seed) {
      if (sizes.size() != axis_values.size()) continue;
      std::vector<double> row;
      for (const auto& [x, v] : sizes) {
        if (!(v > 0.0) || !std::isfinite(v))
          throw std::invalid_argument(
              fmt::format("coord-check data: {}: size {} at {}={:g} seed {} is not a positive number", name, v, axis, x, s));
        row.push_back(v);
      }
      values.push_back(std::move(row));
    }
    if (values.empty())
      throw std::invalid_argument(fmt::format("coord-check data: {}: no seed is measured at every axis value", name));
    CoordSlope c;
    c.rule = rule;
    c.quantity = quantity;
    c.axis = axis;
    c.step = step;
    c.axis_values = axis_values;
    c.seeds = values.size();
    c.estimate = coordinate_slope(axis_values, values, seed + 7919 * (++index), resamples);
    c.exception = coord_check_exception(quantity, step);
    slopes.push_back(std::move(c));
  }
  return slopes;
}

std::vector<experiments::Verdict> coord_slope_verdicts(const std::vector<CoordSlope>& slopes,
                                                       const std::function<bool(const std::string&)>& is_control_rule,
                                                       const experiments::ClaimSpec& spec) {
  std::vector<experiments::Verdict> rows;
  for (const auto& s : slopes) {
    if (s.exception) continue;
    const bool control = is_control_rule && is_control_rule(s.rule);
    rows.push_back(experiments::judge(
        control ? experiments::as_control(spec) : spec,
        fmt::format("{}{}: log-log slope of {} (step {}) vs {} = {:g}..{:g}, {} seeds", control ? "control: " : "", s.rule,
                    s.quantity, s.step, s.axis, s.axis_values.front(), s.axis_values.back(), s.seeds),
        s.estimate.slope, s.estimate.ci.low, s.estimate.ci.high));
  }
  return rows;
}

experiments::ClaimSpec coord_check_spec(const std::string& claim, double tolerance) {
  return {claim, "log-log slope of a coordinate size against the axis", experiments::VerdictKind::claim,
          experiments::Sidedness::two_sided, 0.0, tolerance};
}

std::vector<experiments::Verdict> coord_slope_verdicts(const std::vector<CoordSlope>& slopes,
                                                       const std::function<bool(const std::string&)>& is_control_rule,
                                                       const std::string& claim, double tolerance) {
  return coord_slope_verdicts(slopes, is_control_rule, coord_check_spec(claim, tolerance));
}

experiments::CsvTable coord_slopes_table(const std::vector<CoordSlope>& slopes) {
  experiments::CsvTable t({"rule", "quantity", "axis", "step", "axis_min", "axis_max", "seeds", "slope", "ci_low", "ci_high",
                           "judged", "note"});
  for (const auto& s : slopes)
    t.add_row({s.rule, s.quantity, s.axis, static_cast<long long>(s.step), s.axis_values.front(), s.axis_values.back(),
               static_cast<long long>(s.seeds), s.estimate.slope, s.estimate.ci.low, s.estimate.ci.high,
               static_cast<long long>(s.exception ? 0 : 1), s.exception.value_or("")});
  return t;
}

std::vector<CoordMeasurement> read_coord_csv(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path.string() + ": cannot read");
  std::string line;
  if (!std::getline(in, line)) throw std::runtime_error(path.string() + ": empty file (no header)");
  const auto header = io::split_csv_line(line);
  const auto column = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end())
      throw std::runtime_error(fmt::format("{}: column {} not found (needed: rule, quantity, step, axis, axis_value, "
                                           "seed, value)",
                                           path.string(), name));
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t rule = column("rule"), quantity = column("quantity"), step = column("step"), axis = column("axis"),
                    axis_value = column("axis_value"), seed = column("seed"), value = column("value");
  std::vector<CoordMeasurement> out;
  std::size_t line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) continue;
    const auto cells = io::split_csv_line(line);
    if (cells.size() != header.size())
      throw std::runtime_error(fmt::format("{}:{}: {} cells, header has {}", path.string(), line_number, cells.size(),
                                           header.size()));
    const auto number = [&](std::size_t c, const char* field) {
      try {
        std::size_t used = 0;
        const double v = std::stod(cells[c], &used);
        if (used != cells[c].size()) throw std::invalid_argument("trailing characters");
        return v;
      } catch (const std::exception&) {
        throw std::runtime_error(
            fmt::format("{}:{}: field {}: not a number: \"{}\"", path.string(), line_number, field, cells[c]));
      }
    };
    CoordMeasurement m;
    m.rule = cells[rule];
    m.quantity = cells[quantity];
    m.axis = cells[axis];
    m.seed = cells[seed];
    const double s = number(step, "step");
    if (!(s >= 0.0) || s != std::floor(s))
      throw std::runtime_error(fmt::format("{}:{}: field step: must be a whole number >= 0", path.string(), line_number));
    m.step = static_cast<std::int64_t>(s);
    m.axis_value = number(axis_value, "axis_value");
    if (!(m.axis_value > 0.0))
      throw std::runtime_error(fmt::format("{}:{}: field axis_value: must be positive", path.string(), line_number));
    m.value = number(value, "value");
    if (m.rule.empty() || m.quantity.empty() || m.axis.empty())
      throw std::runtime_error(fmt::format("{}:{}: fields rule, quantity, axis must not be empty", path.string(), line_number));
    out.push_back(std::move(m));
  }
  if (out.empty()) throw std::runtime_error(path.string() + ": no measurements");
  return out;
}

}  // namespace muelab::analysis
