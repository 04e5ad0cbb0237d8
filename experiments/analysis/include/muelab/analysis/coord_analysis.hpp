// Coordinate-check analysis (docs/theory.md §9 `coord-check`): log–log slopes of a coordinate size
// (activation RMS, its change, logits, ...) against a model axis (d, N, m, L), one per (rule,
// quantity, axis, step), with a bootstrap CI over seeds; judged |slope| < 0.1 for μP-type rules, SP
// being the control (expected ≈ +0.5 or more).
//
// Documented exceptions (docs/claims.md, coord-check): the output logits and the attention logits at the
// first step (step 0, the forward pass at initialization) are not required to be width-independent:
// μP-type rules initialise the readout so that the output logits vanish as the width grows (≈ d^{-1/2}
// with a 1/d readout multiplier), and a 1/d_head attention scale makes the initial attention logits
// shrink with the head width, while both become Θ(1) once training has moved the weights. Those rows
// are reported (slope and CI in the table) but not judged: they are not written as verdicts, since
// the verdict format has only claim and control kinds and neither describes "no prediction".
#pragma once

#include "muelab/analysis/lr_analysis.hpp"
#include "muelab/experiments/output.hpp"
#include "muelab/experiments/verdicts.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace muelab::analysis {

/// One measured coordinate size: `value` of `quantity` at training step `step` for the model whose
/// `axis` (e.g. "d_model") has value `axis_value`, under rule `rule`, seed `seed`.
struct CoordMeasurement {
  std::string rule, quantity, axis;
  std::int64_t step = 0;
  double axis_value = 0.0;
  std::string seed;
  double value = 0.0;
};

struct CoordSlope {
  std::string rule, quantity, axis;
  std::int64_t step = 0;
  std::vector<double> axis_values;
  std::size_t seeds = 0;          ///< seeds measured at every axis value (the others are dropped)
  SlopeEstimate estimate;
  std::optional<std::string> exception;  ///< set: reported, not judged (the reason)
};

/// The documented exception for `quantity` at `step`, if any: quantities named output_logits* or
/// attention_logits* at step 0.
[[nodiscard]] std::optional<std::string> coord_check_exception(const std::string& quantity, std::int64_t step);

/// Groups by (rule, quantity, axis, step), keeps the seeds measured at every axis value (≥ 2 positive
/// axis values and positive sizes required, else std::invalid_argument naming the group) and fits
/// each log–log slope with coordinate_slope (bootstrap over seeds, `seed` + group index).
[[nodiscard]] std::vector<CoordSlope> analyze_coord_measurements(const std::vector<CoordMeasurement>& measurements,
                                                                 std::uint64_t seed, std::size_t resamples = 1000);

/// One verdict per judged slope (exceptions skipped), judged against `spec` (docs/claims.md
/// `coord-check`: predicted 0 ± tolerance); rows whose rule `is_control_rule` says so are control rows
/// (as_control(spec)).
[[nodiscard]] std::vector<experiments::Verdict> coord_slope_verdicts(
    const std::vector<CoordSlope>& slopes, const std::function<bool(const std::string& rule)>& is_control_rule,
    const experiments::ClaimSpec& spec);
/// The coord-check spec: `claim`, predicted slope 0, two-sided ± `tolerance`.
[[nodiscard]] experiments::ClaimSpec coord_check_spec(const std::string& claim = "coord-check", double tolerance = 0.1);
/// The same with the spec spelled as (claim, tolerance).
[[nodiscard]] std::vector<experiments::Verdict> coord_slope_verdicts(
    const std::vector<CoordSlope>& slopes, const std::function<bool(const std::string& rule)>& is_control_rule,
    const std::string& claim = "coord-check", double tolerance = 0.1);

/// Columns: rule, quantity, axis, step, axis_min, axis_max, seeds, slope, ci_low, ci_high, judged, note.
[[nodiscard]] experiments::CsvTable coord_slopes_table(const std::vector<CoordSlope>& slopes);

/// Reads a coord-check CSV with columns rule, quantity, step, axis, axis_value, seed, value (any
/// order, extra columns ignored; what coord-check writes as coord.csv). Throws std::runtime_error
/// with one line naming the file, line and field on malformed input.
[[nodiscard]] std::vector<CoordMeasurement> read_coord_csv(const std::filesystem::path& path);

}  // namespace muelab::analysis
