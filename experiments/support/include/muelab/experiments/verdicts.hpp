// The verdict format shared by every experiment (docs/claims.md, "How a row is judged").
//
// A row is judged from its 95% interval, never from its point estimate:
//   * two-sided claim (predicted ± tolerance): `holds` when the whole CI lies inside the band,
//     `fails` when the whole CI lies outside it, `inconclusive` when the CI straddles a bound;
//   * one-sided claim "at most B" / "at least B" (B = predicted ± tolerance): `holds` when the whole
//     CI is on the right side of B, `fails` when the whole CI is on the wrong side, else inconclusive;
//   * a quantity that could not be measured (an optimum at a grid edge, a divergence, too few seeds,
//     a non-finite CI) is `inconclusive` with the reason.
// A claim row is as expected only when it holds; a control row only when it fails. An inconclusive
// row is never as expected. The tolerance of every row comes from the experiment's declared plan
// (ClaimSpec), fixed before the run, never from the run's own noise.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

namespace muelab::experiments {

enum class VerdictKind { claim, control };
enum class Outcome { holds, fails, inconclusive };
/// two_sided: |x − predicted| ≤ tolerance. at_most: x ≤ predicted + tolerance. at_least: x ≥ predicted − tolerance.
enum class Sidedness { two_sided, at_most, at_least };

[[nodiscard]] std::string to_string(VerdictKind kind);
[[nodiscard]] std::string to_string(Outcome outcome);
[[nodiscard]] std::string to_string(Sidedness sidedness);

/// One judged quantity as declared in an experiment's plan, before any run: which claim (an id of
/// docs/claims.md), claim or control, the prediction, the tolerance and whether the claim is one-sided.
struct ClaimSpec {
  std::string claim;       ///< claim id (docs/claims.md)
  std::string quantity;    ///< what is measured, e.g. "drift of log2 lr* per doubling"
  VerdictKind kind = VerdictKind::claim;
  Sidedness sidedness = Sidedness::two_sided;
  double predicted = 0.0;
  double tolerance = 0.0;  ///< ≥ 0; for one-sided specs the bound is predicted ± tolerance
  /// The bound(s) the CI is compared with: [predicted − tolerance, predicted + tolerance], with the
  /// open side at ∓infinity for one-sided specs.
  [[nodiscard]] double lower_bound() const;
  [[nodiscard]] double upper_bound() const;
  /// "0 ± 0.25", "≤ 0", "≥ 1" (for tables).
  [[nodiscard]] std::string describe() const;
};

struct Verdict {
  std::string claim;       ///< claim id (docs/claims.md)
  std::string case_name;   ///< what was measured, e.g. "E f(x_T), Gaussian noise"
  VerdictKind kind = VerdictKind::claim;
  Sidedness sidedness = Sidedness::two_sided;
  double measured = 0.0;
  double ci_low = 0.0;     ///< 95% interval (bootstrap over seeds or a fit's standard error)
  double ci_high = 0.0;
  double predicted = 0.0;
  double tolerance = 0.0;
  Outcome outcome = Outcome::inconclusive;
  std::string reason;      ///< why inconclusive ("CI straddles the upper bound", "optimum at grid edge", ...)

  [[nodiscard]] bool holds() const { return outcome == Outcome::holds; }
  [[nodiscard]] bool fails() const { return outcome == Outcome::fails; }
  [[nodiscard]] bool inconclusive() const { return outcome == Outcome::inconclusive; }
  /// A claim is as expected only when it holds, a control only when it fails.
  [[nodiscard]] bool as_expected() const {
    return kind == VerdictKind::claim ? outcome == Outcome::holds : outcome == Outcome::fails;
  }
};

/// The outcome of a CI [low, high] against `spec` (with the reason when inconclusive). Non-finite or
/// reversed intervals are inconclusive ("not measured").
[[nodiscard]] Outcome judge_interval(const ClaimSpec& spec, double ci_low, double ci_high, std::string* reason = nullptr);

/// Judges one measured quantity against its declared spec (the row's case is `case_name`).
[[nodiscard]] Verdict judge(const ClaimSpec& spec, std::string case_name, double measured, double ci_low, double ci_high);

/// A row whose quantity could not be measured (optimum at a grid edge, divergence, too few seeds):
/// always inconclusive, with the reason. `measured`/CI may carry what is known (or NaN).
[[nodiscard]] Verdict not_measured(const ClaimSpec& spec, std::string case_name, std::string reason,
                                   double measured = std::numeric_limits<double>::quiet_NaN(),
                                   double ci_low = std::numeric_limits<double>::quiet_NaN(),
                                   double ci_high = std::numeric_limits<double>::quiet_NaN());

/// The same spec with another kind (a control judged against the claim's band).
[[nodiscard]] ClaimSpec as_control(ClaimSpec spec);

struct VerdictCounts {
  std::size_t holds = 0, fails = 0, inconclusive = 0, as_expected = 0, total = 0;
};

/// How the intervals of a verdicts.json were computed (its "intervals" field; docs/claims.md, "Seeds and
/// intervals"). Files written before the field existed used the plain percentile bootstrap, which covers
/// a seed mean ≈ 84% of the time over 5–6 seeds and 50% over 2.
inline constexpr const char* kWidenedIntervals = "widened-bootstrap";
inline constexpr const char* kPercentileIntervals = "percentile-bootstrap";

struct VerdictReport {
  std::string experiment;
  std::string profile;
  std::uint64_t seed = 0;
  std::vector<Verdict> verdicts;
  std::string revision;        ///< filled by read_verdict_report (write() records the binary's own revision)
  double wall_seconds = -1.0;  ///< filled by gather_reports from run.json when known
  bool legacy = false;         ///< read from a file without three-valued verdicts (rows re-judged on their CI)
  std::string intervals = kWidenedIntervals;  ///< read back from the file (write() records this build's method)

  [[nodiscard]] bool all_as_expected() const;
  [[nodiscard]] VerdictCounts counts() const;
  /// Writes verdicts.json atomically (with the source revision).
  void write(const std::filesystem::path& path) const;
  /// One human-readable line per verdict, for the console.
  [[nodiscard]] std::string summary() const;
};

/// Reads a verdicts.json written by VerdictReport::write. A file from before three-valued verdicts
/// (rows without "verdict") is read with every row re-judged on its CI against its own predicted ±
/// tolerance, the reason saying so, and `legacy` set. Throws std::runtime_error with one line naming
/// the file and the field on a malformed file.
[[nodiscard]] VerdictReport read_verdict_report(const std::filesystem::path& path);

[[nodiscard]] VerdictCounts count_verdicts(const std::vector<VerdictReport>& reports);

}  // namespace muelab::experiments
