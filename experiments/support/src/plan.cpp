#include "muelab/experiments/plan.hpp"

#include <cmath>
#include <stdexcept>

namespace muelab::experiments {

std::string to_string(Profile profile) {
  switch (profile) {
    case Profile::smoke: return "smoke";
    case Profile::quick: return "quick";
    case Profile::full: return "full";
  }
  return "quick";
}

std::optional<Profile> parse_profile(const std::string& text) {
  if (text == "smoke") return Profile::smoke;
  if (text == "quick") return Profile::quick;
  if (text == "full") return Profile::full;
  return std::nullopt;
}

std::vector<std::string> profile_names() { return {"smoke", "quick", "full"}; }

const ClaimSpec& ExperimentPlan::claim(const std::string& key) const {
  const auto it = claims.find(key);
  if (it == claims.end()) throw std::logic_error("experiment plan declares no claim \"" + key + "\"");
  return it->second;
}

namespace {
nlohmann::json bound(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }
}  // namespace

nlohmann::json ExperimentPlan::to_json(Profile profile) const {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& [key, spec] : claims)
    rows.push_back({{"key", key},
                    {"claim", spec.claim},
                    {"quantity", spec.quantity},
                    {"kind", experiments::to_string(spec.kind)},
                    {"sidedness", experiments::to_string(spec.sidedness)},
                    {"predicted", spec.predicted},
                    {"tolerance", spec.tolerance},
                    {"band", {bound(spec.lower_bound()), bound(spec.upper_bound())}},
                    {"judged_as", spec.describe()}});
  return {{"profile", experiments::to_string(profile)}, {"settings", settings}, {"claims", rows}};
}

}  // namespace muelab::experiments
