// Experiments as declared plans (docs/claims.md, "Plans"): every experiment has one plan value per
// profile — its grids, seeds, steps and the claims it judges with their predictions and tolerances —
// fixed before any run. The driver writes the plan to plan.json beside the results before the
// experiment starts, so what was predicted can be read next to what was measured.
#pragma once

#include "muelab/experiments/verdicts.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace muelab::experiments {

/// smoke: seconds, exercises every code path (ctest); quick: minutes (the main job, CI-sized, may be
/// honestly inconclusive); full: the evidence (≥ 5 paired seeds for every LR/WD sweep).
enum class Profile { smoke, quick, full };
[[nodiscard]] std::string to_string(Profile profile);
/// "smoke" | "quick" | "full"; std::nullopt otherwise.
[[nodiscard]] std::optional<Profile> parse_profile(const std::string& text);
/// The accepted profile names, for --help and error messages.
[[nodiscard]] std::vector<std::string> profile_names();

/// One profile's declared plan: `settings` (grids, seeds, steps, ...: whatever the experiment's
/// run reads, as JSON for plan.json) and the claims it judges, keyed by a short name the experiment
/// uses to look them up.
struct ExperimentPlan {
  nlohmann::json settings = nlohmann::json::object();
  std::map<std::string, ClaimSpec> claims;

  /// The spec declared under `key`; throws std::logic_error naming the key when absent (a plan bug).
  [[nodiscard]] const ClaimSpec& claim(const std::string& key) const;
  /// plan.json: {"profile", "settings", "claims": [{key, claim, quantity, kind, sidedness, predicted, tolerance, band}]}.
  [[nodiscard]] nlohmann::json to_json(Profile profile) const;
};

/// Picks one of three values by profile (the only place a profile selects a value: plans use it,
/// run code reads the plan).
template <class T>
[[nodiscard]] T by_profile(Profile profile, T smoke, T quick, T full) {
  switch (profile) {
    case Profile::smoke: return smoke;
    case Profile::quick: return quick;
    case Profile::full: return full;
  }
  return quick;
}

}  // namespace muelab::experiments
