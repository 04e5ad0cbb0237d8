#include "muelab/experiments/verdicts.hpp"

#include "muelab/experiments/output.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <sstream>

namespace muelab::experiments {

Verdict judge_within_tolerance(std::string claim, std::string case_name, VerdictKind kind, double measured,
                               double ci_low, double ci_high, double predicted, double tolerance) {
  Verdict v;
  v.claim = std::move(claim);
  v.case_name = std::move(case_name);
  v.kind = kind;
  v.measured = measured;
  v.ci_low = ci_low;
  v.ci_high = ci_high;
  v.predicted = predicted;
  v.tolerance = tolerance;
  v.holds = std::isfinite(measured) && std::abs(measured - predicted) <= tolerance;
  return v;
}

bool VerdictReport::all_as_expected() const {
  for (const auto& v : verdicts)
    if (!v.as_expected()) return false;
  return true;
}

namespace {
nlohmann::json number_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }
}  // namespace

void VerdictReport::write(const std::filesystem::path& path) const {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& v : verdicts) {
    rows.push_back({{"claim", v.claim},
                    {"case", v.case_name},
                    {"kind", v.kind == VerdictKind::claim ? "claim" : "control"},
                    {"measured", number_or_null(v.measured)},
                    {"ci", {number_or_null(v.ci_low), number_or_null(v.ci_high)}},
                    {"predicted", number_or_null(v.predicted)},
                    {"tolerance", number_or_null(v.tolerance)},
                    {"holds", v.holds},
                    {"as_expected", v.as_expected()}});
  }
  const nlohmann::json document = {{"experiment", experiment}, {"profile", profile}, {"seed", seed},
                                   {"revision", source_revision()}, {"verdicts", rows}};
  write_file_atomically(path, document.dump(2) + "\n");
}

std::string VerdictReport::summary() const {
  std::ostringstream out;
  for (const auto& v : verdicts) {
    out << fmt::format("  [{}] {:<22} {:<7} {:<60} measured {:.4g} [{:.4g}, {:.4g}] predicted {:.4g} ± {:.3g}\n",
                       v.as_expected() ? "as expected" : "UNEXPECTED ", v.claim,
                       v.kind == VerdictKind::claim ? "claim" : "control", v.case_name, v.measured, v.ci_low,
                       v.ci_high, v.predicted, v.tolerance);
  }
  return out.str();
}

}  // namespace muelab::experiments
