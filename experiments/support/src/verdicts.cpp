#include "muelab/experiments/verdicts.hpp"

#include "muelab/experiments/output.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <stdexcept>

namespace muelab::experiments {

std::string to_string(VerdictKind kind) { return kind == VerdictKind::claim ? "claim" : "control"; }

std::string to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::holds: return "holds";
    case Outcome::fails: return "fails";
    case Outcome::inconclusive: return "inconclusive";
  }
  return "inconclusive";
}

std::string to_string(Sidedness sidedness) {
  switch (sidedness) {
    case Sidedness::two_sided: return "two-sided";
    case Sidedness::at_most: return "at-most";
    case Sidedness::at_least: return "at-least";
  }
  return "two-sided";
}

double ClaimSpec::lower_bound() const {
  return sidedness == Sidedness::at_most ? -std::numeric_limits<double>::infinity() : predicted - tolerance;
}

double ClaimSpec::upper_bound() const {
  return sidedness == Sidedness::at_least ? std::numeric_limits<double>::infinity() : predicted + tolerance;
}

std::string ClaimSpec::describe() const {
  switch (sidedness) {
    case Sidedness::two_sided: return fmt::format("{:.4g} ± {:.3g}", predicted, tolerance);
    case Sidedness::at_most: return fmt::format("≤ {:.4g}", upper_bound());
    case Sidedness::at_least: return fmt::format("≥ {:.4g}", lower_bound());
  }
  return "";
}

Outcome judge_interval(const ClaimSpec& spec, double ci_low, double ci_high, std::string* reason) {
  auto say = [&](std::string text) {
    if (reason != nullptr) *reason = std::move(text);
  };
  if (!std::isfinite(ci_low) || !std::isfinite(ci_high) || ci_low > ci_high) {
    say("not measured (no finite 95% interval)");
    return Outcome::inconclusive;
  }
  const double lo = spec.lower_bound(), hi = spec.upper_bound();
  if (ci_low >= lo && ci_high <= hi) {
    say("");
    return Outcome::holds;
  }
  if (ci_high < lo || ci_low > hi) {
    say("");
    return Outcome::fails;
  }
  // The CI straddles a bound: name the one it crosses (both when it covers the whole band).
  const bool crosses_low = ci_low < lo && ci_high >= lo, crosses_high = ci_low <= hi && ci_high > hi;
  if (crosses_low && crosses_high)
    say(fmt::format("CI [{:.3g}, {:.3g}] wider than the band [{:.3g}, {:.3g}]", ci_low, ci_high, lo, hi));
  else if (crosses_high)
    say(fmt::format("CI [{:.3g}, {:.3g}] straddles the upper bound {:.3g}", ci_low, ci_high, hi));
  else
    say(fmt::format("CI [{:.3g}, {:.3g}] straddles the lower bound {:.3g}", ci_low, ci_high, lo));
  return Outcome::inconclusive;
}

namespace {
Verdict row_of(const ClaimSpec& spec, std::string case_name, double measured, double ci_low, double ci_high) {
  Verdict v;
  v.claim = spec.claim;
  v.case_name = std::move(case_name);
  v.kind = spec.kind;
  v.sidedness = spec.sidedness;
  v.measured = measured;
  v.ci_low = ci_low;
  v.ci_high = ci_high;
  v.predicted = spec.predicted;
  v.tolerance = spec.tolerance;
  return v;
}
}  // namespace

Verdict judge(const ClaimSpec& spec, std::string case_name, double measured, double ci_low, double ci_high) {
  auto v = row_of(spec, std::move(case_name), measured, ci_low, ci_high);
  v.outcome = judge_interval(spec, ci_low, ci_high, &v.reason);
  return v;
}

Verdict not_measured(const ClaimSpec& spec, std::string case_name, std::string reason, double measured,
                     double ci_low, double ci_high) {
  auto v = row_of(spec, std::move(case_name), measured, ci_low, ci_high);
  v.outcome = Outcome::inconclusive;
  v.reason = std::move(reason);
  return v;
}

ClaimSpec as_control(ClaimSpec spec) {
  spec.kind = VerdictKind::control;
  return spec;
}

bool VerdictReport::all_as_expected() const {
  for (const auto& v : verdicts)
    if (!v.as_expected()) return false;
  return true;
}

VerdictCounts VerdictReport::counts() const {
  VerdictCounts c;
  for (const auto& v : verdicts) {
    ++c.total;
    c.holds += v.outcome == Outcome::holds ? 1 : 0;
    c.fails += v.outcome == Outcome::fails ? 1 : 0;
    c.inconclusive += v.outcome == Outcome::inconclusive ? 1 : 0;
    c.as_expected += v.as_expected() ? 1 : 0;
  }
  return c;
}

VerdictCounts count_verdicts(const std::vector<VerdictReport>& reports) {
  VerdictCounts total;
  for (const auto& r : reports) {
    const auto c = r.counts();
    total.holds += c.holds;
    total.fails += c.fails;
    total.inconclusive += c.inconclusive;
    total.as_expected += c.as_expected;
    total.total += c.total;
  }
  return total;
}

namespace {
nlohmann::json number_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }
}  // namespace

void VerdictReport::write(const std::filesystem::path& path) const {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& v : verdicts) {
    rows.push_back({{"claim", v.claim},
                    {"case", v.case_name},
                    {"kind", to_string(v.kind)},
                    {"sidedness", to_string(v.sidedness)},
                    {"measured", number_or_null(v.measured)},
                    {"ci", {number_or_null(v.ci_low), number_or_null(v.ci_high)}},
                    {"predicted", number_or_null(v.predicted)},
                    {"tolerance", number_or_null(v.tolerance)},
                    {"verdict", to_string(v.outcome)},
                    {"reason", v.reason},
                    {"holds", v.holds()},
                    {"as_expected", v.as_expected()}});
  }
  const auto c = counts();
  const nlohmann::json document = {{"experiment", experiment},
                                   {"profile", profile},
                                   {"seed", seed},
                                   {"revision", source_revision()},
                                   {"intervals", kWidenedIntervals},
                                   {"counts",
                                    {{"holds", c.holds},
                                     {"fails", c.fails},
                                     {"inconclusive", c.inconclusive},
                                     {"as_expected", c.as_expected},
                                     {"total", c.total}}},
                                   {"verdicts", rows}};
  write_file_atomically(path, document.dump(2) + "\n");
}

namespace {
double number_field(const nlohmann::json& row, const char* key) {
  const auto& x = row.at(key);
  return x.is_null() ? std::numeric_limits<double>::quiet_NaN() : x.get<double>();
}

template <class Enum>
Enum parse_enum(const std::string& text, std::initializer_list<Enum> values, const char* field) {
  for (const auto value : values)
    if (to_string(value) == text) return value;
  throw std::runtime_error(fmt::format("field \"{}\": unknown value \"{}\"", field, text));
}
}  // namespace

VerdictReport read_verdict_report(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read", path.string()));
  try {
    const auto document = nlohmann::json::parse(in);
    VerdictReport report;
    report.experiment = document.at("experiment").get<std::string>();
    report.profile = document.at("profile").get<std::string>();
    report.seed = document.at("seed").get<std::uint64_t>();
    report.revision = document.value("revision", std::string("unknown"));
    report.intervals = document.value("intervals", std::string(kPercentileIntervals));
    for (const auto& row : document.at("verdicts")) {
      Verdict v;
      v.claim = row.at("claim").get<std::string>();
      v.case_name = row.at("case").get<std::string>();
      v.kind = parse_enum(row.at("kind").get<std::string>(), {VerdictKind::claim, VerdictKind::control}, "kind");
      v.sidedness = parse_enum(row.value("sidedness", std::string("two-sided")),
                               {Sidedness::two_sided, Sidedness::at_most, Sidedness::at_least}, "sidedness");
      v.measured = number_field(row, "measured");
      v.ci_low = row.at("ci").at(0).is_null() ? std::numeric_limits<double>::quiet_NaN() : row.at("ci").at(0).get<double>();
      v.ci_high = row.at("ci").at(1).is_null() ? std::numeric_limits<double>::quiet_NaN() : row.at("ci").at(1).get<double>();
      v.predicted = number_field(row, "predicted");
      v.tolerance = number_field(row, "tolerance");
      v.reason = row.value("reason", std::string());
      if (row.contains("verdict")) {
        v.outcome = parse_enum(row.at("verdict").get<std::string>(), {Outcome::holds, Outcome::fails, Outcome::inconclusive},
                               "verdict");
      } else {
        // A file written before three-valued verdicts (it has only "holds", judged on the point):
        // re-judged here on its CI against its own predicted ± tolerance (docs/claims.md, "Provenance").
        const ClaimSpec spec{v.claim, "", v.kind, v.sidedness, v.predicted, v.tolerance};
        std::string why;
        v.outcome = judge_interval(spec, v.ci_low, v.ci_high, &why);
        v.reason = "legacy row (point-judged " + std::string(row.value("holds", false) ? "holds" : "not holds") +
                   "), re-judged on its CI" + (why.empty() ? "" : ": " + why);
        report.legacy = true;
      }
      report.verdicts.push_back(std::move(v));
    }
    return report;
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: {}", path.string(), e.what()));
  }
}

namespace {
/// A number of the console summary: 4 significant digits, or "n/a" for a value that was not measured
/// (NaN, which printf-style formatting would write as "nan" or "-nan" depending on its sign bit).
std::string summary_number(double x) { return std::isnan(x) ? "n/a" : fmt::format("{:.4g}", x); }
}  // namespace

std::string VerdictReport::summary() const {
  std::ostringstream out;
  for (const auto& v : verdicts) {
    const ClaimSpec spec{v.claim, "", v.kind, v.sidedness, v.predicted, v.tolerance};
    out << fmt::format("  [{}] {:<12} {:<22} {:<7} {:<60} measured {} [{}, {}] predicted {}{}\n",
                       v.as_expected() ? "as expected" : "UNEXPECTED ", to_string(v.outcome), v.claim,
                       to_string(v.kind), v.case_name, summary_number(v.measured), summary_number(v.ci_low),
                       summary_number(v.ci_high), spec.describe(), v.reason.empty() ? "" : " — " + v.reason);
  }
  return out.str();
}

}  // namespace muelab::experiments
