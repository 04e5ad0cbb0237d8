// The three-valued judge, the edge policy and REPORT.md on known answers (docs/claims.md): no
// training, every expected outcome follows from the definitions.
#include "muelab/experiments/grid_policy.hpp"
#include "muelab/experiments/output.hpp"
#include "muelab/experiments/plan.hpp"
#include "muelab/experiments/registry.hpp"
#include "muelab/experiments/report.hpp"
#include "muelab/experiments/verdicts.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

using namespace muelab::experiments;

namespace {
const double infinite = std::numeric_limits<double>::infinity();
const double not_a_number = std::numeric_limits<double>::quiet_NaN();
ClaimSpec two_sided(double predicted, double tolerance, VerdictKind kind = VerdictKind::claim) {
  return {"lr-transfer", "drift", kind, Sidedness::two_sided, predicted, tolerance};
}
}  // namespace

TEST_CASE("a two-sided claim is judged on the whole interval, not the point", "[verdicts]") {
  const auto spec = two_sided(1.0, 0.25);  // band [0.75, 1.25]
  CHECK(judge(spec, "inside", 1.0, 0.8, 1.2).outcome == Outcome::holds);
  CHECK(judge(spec, "exactly the band", 1.0, 0.75, 1.25).outcome == Outcome::holds);
  // The point is inside the band but the CI crosses its upper bound (the adam-sde case of the review).
  const auto straddle = judge(spec, "straddles", 1.11, 0.91, 1.47);
  CHECK(straddle.outcome == Outcome::inconclusive);
  CHECK(straddle.reason.find("upper bound") != std::string::npos);
  CHECK(judge(spec, "straddles low", 0.9, 0.5, 1.0).reason.find("lower bound") != std::string::npos);
  CHECK(judge(spec, "wider than the band", 1.0, 0.0, 2.0).reason.find("wider") != std::string::npos);
  CHECK(judge(spec, "wholly above", 2.0, 1.5, 2.5).outcome == Outcome::fails);
  CHECK(judge(spec, "wholly below", 0.0, -0.5, 0.5).outcome == Outcome::fails);
  CHECK(judge(spec, "no interval", 1.0, not_a_number, not_a_number).outcome == Outcome::inconclusive);
  CHECK(judge(spec, "infinite interval", 1.0, 0.9, infinite).outcome == Outcome::inconclusive);
  CHECK(judge(spec, "reversed interval", 1.0, 1.2, 0.8).outcome == Outcome::inconclusive);
}

TEST_CASE("one-sided claims compare the interval with their bound", "[verdicts]") {
  const ClaimSpec improves{"fixed-hp-scaling", "slope", VerdictKind::claim, Sidedness::at_most, 0.0, 0.0};
  CHECK(judge(improves, "CI below 0", -0.02, -0.03, -0.01).outcome == Outcome::holds);
  CHECK(judge(improves, "flat curve", 0.0, -0.01, 0.01).outcome == Outcome::inconclusive);  // a flat curve no longer passes
  CHECK(judge(improves, "worse", 0.02, 0.01, 0.03).outcome == Outcome::fails);
  const ClaimSpec speedup{"moe-speedup", "speed-up", VerdictKind::claim, Sidedness::at_least, 1.0, 0.0};
  CHECK(judge(speedup, "faster", 1.4, 1.2, 1.6).outcome == Outcome::holds);
  CHECK(judge(speedup, "1.05 [0, 1.35]", 1.05, 0.0, 1.35).outcome == Outcome::inconclusive);
  CHECK(judge(speedup, "slower", 0.8, 0.7, 0.9).outcome == Outcome::fails);
  CHECK(speedup.describe() == "≥ 1");
  CHECK(improves.describe() == "≤ 0");
  CHECK(two_sided(0.0, 0.25).describe() == "0 ± 0.25");
}

TEST_CASE("as expected: a claim only when it holds, a control only when it fails", "[verdicts]") {
  const auto claim = two_sided(0.0, 0.25);
  const auto control = as_control(claim);
  CHECK(judge(claim, "", 0.0, -0.1, 0.1).as_expected());
  CHECK_FALSE(judge(claim, "", 1.0, 0.9, 1.1).as_expected());
  CHECK_FALSE(judge(claim, "", 0.2, 0.0, 0.4).as_expected());
  CHECK(judge(control, "", 1.0, 0.9, 1.1).as_expected());
  CHECK_FALSE(judge(control, "", 0.0, -0.1, 0.1).as_expected());
  CHECK_FALSE(judge(control, "", 0.2, 0.0, 0.4).as_expected());  // inconclusive is never as expected
  const auto edge = not_measured(claim, "edge", "optimum at grid edge");
  CHECK(edge.inconclusive());
  CHECK_FALSE(edge.as_expected());
  CHECK_FALSE(not_measured(control, "edge", "optimum at grid edge").as_expected());
}

TEST_CASE("reports count the three outcomes and list inconclusive rows with their reason", "[verdicts]") {
  VerdictReport r;
  r.experiment = "synthetic";
  const auto claim = two_sided(0.0, 0.25);
  r.verdicts = {judge(claim, "holds", 0.0, -0.1, 0.1), judge(claim, "fails", 1.0, 0.9, 1.1),
                judge(claim, "straddles", 0.2, 0.0, 0.4), not_measured(as_control(claim), "edge row", "optimum at grid edge")};
  const auto c = r.counts();
  CHECK(c.total == 4);
  CHECK(c.holds == 1);
  CHECK(c.fails == 1);
  CHECK(c.inconclusive == 2);
  CHECK(c.as_expected == 1);
  const auto md = report_markdown({r}, "quick", 1.0);
  CHECK(md.find("4 rows: 1 hold, 1 fail, 2 inconclusive; 1 as expected, 3 not") != std::string::npos);
  CHECK(md.find("edge row: optimum at grid edge") != std::string::npos);
  CHECK(md.find("straddles: CI [0, 0.4] straddles the upper bound 0.25") != std::string::npos);
  // The console summary writes a value that was not measured as n/a, whatever NaN's sign bit.
  r.verdicts = {
      not_measured(claim, "knee row", "knee beyond the grid's upper edge", -std::nan(""), std::nan(""), -std::nan(""))};
  const auto line = r.summary();
  CHECK(line.find("measured n/a [n/a, n/a]") != std::string::npos);
  CHECK(line.find("nan") == std::string::npos);
}

TEST_CASE("verdicts.json round-trips and REPORT.md is gathered from what is on disk", "[verdicts]") {
  namespace fs = std::filesystem;
  const auto root = fs::temp_directory_path() / "muelab_test_verdicts_gather";
  fs::remove_all(root);
  VerdictReport a, b;
  a.experiment = "alpha";
  b.experiment = "beta";
  a.profile = b.profile = "quick";
  const auto claim = two_sided(0.0, 0.25);
  const ClaimSpec at_least{"moe-speedup", "speed-up", VerdictKind::claim, Sidedness::at_least, 1.0, 0.0};
  a.verdicts = {judge(claim, "holds", 0.0, -0.1, 0.1), not_measured(as_control(claim), "edge", "optimum at grid edge")};
  b.verdicts = {judge(at_least, "one-sided", 1.2, 0.9, 1.5)};
  a.write(root / "alpha" / "verdicts.json");
  b.write(root / "beta" / "verdicts.json");
  const auto back = read_verdict_report(root / "alpha" / "verdicts.json");
  REQUIRE(back.verdicts.size() == 2);
  CHECK(back.verdicts[0].outcome == Outcome::holds);
  CHECK(back.verdicts[1].kind == VerdictKind::control);
  CHECK(back.verdicts[1].reason == "optimum at grid edge");
  CHECK(std::isnan(back.verdicts[1].measured));
  CHECK(back.intervals == kWidenedIntervals);
  const auto gathered = gather_reports(root);
  REQUIRE(gathered.size() == 2);
  CHECK(gathered[1].experiment == "beta");
  CHECK(gathered[1].verdicts[0].sidedness == Sidedness::at_least);
  CHECK(gathered[1].verdicts[0].outcome == Outcome::inconclusive);
  CHECK(count_verdicts(gathered).total == 3);
  // A malformed file is a one-line error naming it.
  write_file_atomically(root / "gamma" / "verdicts.json", "{\"experiment\": 1}");
  CHECK_THROWS_WITH(gather_reports(root), Catch::Contains("gamma/verdicts.json"));
  fs::remove_all(root);
}

TEST_CASE("plans declare their claims and select values by profile only", "[verdicts]") {
  ExperimentPlan plan;
  plan.settings = {{"seeds", by_profile(Profile::full, 1, 2, 5)}};
  plan.claims["drift"] = two_sided(0.0, 0.25);
  CHECK(plan.settings["seeds"] == 5);
  CHECK(plan.claim("drift").tolerance == 0.25);
  CHECK_THROWS_AS(plan.claim("missing"), std::logic_error);
  const auto json = plan.to_json(Profile::smoke);
  CHECK(json["profile"] == "smoke");
  CHECK(json["claims"][0]["band"][1] == 0.25);
  CHECK(parse_profile("smoke") == Profile::smoke);
  CHECK_FALSE(parse_profile("fast").has_value());
}

TEST_CASE("the edge policy finds edges and names the half-octave points to add", "[verdicts][grid]") {
  const std::vector<double> x = {-2.0, -1.5, -1.0, -0.5, 0.0};
  // Monotone toward the upper edge: the optimum lies beyond the grid.
  const std::vector<double> rising = {5.0, 4.0, 3.0, 2.0, 1.0};
  CHECK(locate_minimum(x, rising).edge == GridEdge::high);
  const std::vector<double> four_points = {0.5, 1.0, 1.5, 2.0}, one_point = {0.5};
  CHECK(points_to_add(x, rising, 0) == four_points);
  CHECK(points_to_add(x, rising, 3) == one_point);
  CHECK(points_to_add(x, rising, 4).empty());  // the cap: 4 extra points
  const std::vector<double> falling = {1.0, 2.0, 3.0, 4.0, 5.0}, valley = {3.0, 2.0, 1.0, 2.0, 3.0};
  CHECK(next_grid_point(x, falling, 0) == -2.5);
  CHECK_FALSE(next_grid_point(x, valley, 0).has_value());
  // A diverged neighbour brackets the optimum: interior, nothing to add.
  const std::vector<double> diverged_top = {5.0, 4.0, 3.0, 2.0, infinite}, all_diverged(5, not_a_number);
  CHECK(locate_minimum(x, diverged_top).edge == GridEdge::interior);
  CHECK(locate_minimum(x, all_diverged).edge == GridEdge::unmeasured);
}

TEST_CASE("sweep_until_interior extends an edge optimum until it is interior", "[verdicts][grid]") {
  // Two curves: optimum at log2 x = 1.2 (beyond the initial grid's top) and at -0.3 (interior).
  std::vector<SweptCurve> curves(2);
  curves[0].log2_x = curves[1].log2_x = {-1.0, -0.5, 0.0};
  const double optimum[2] = {1.2, -0.3};
  std::size_t batches = 0;
  sweep_until_interior(curves, [&](const GridRequests& requests) {
    ++batches;
    std::vector<double> values;
    for (const auto& [c, x] : requests) values.push_back((x - optimum[c]) * (x - optimum[c]));
    return values;
  });
  CHECK(curves[1].extra_points == 0);
  const std::vector<double> extended = {-1.0, -0.5, 0.0, 0.5, 1.0, 1.5};
  CHECK(curves[0].log2_x == extended);
  CHECK(curves[0].minimum().edge == GridEdge::interior);
  CHECK(curves[0].extra_points == 3);
  CHECK(batches == 4);  // the initial grid, then one round per added point
  // An optimum too far away stays at the edge after 4 extra points (then the row is not fitted).
  std::vector<SweptCurve> far(1);
  far[0].log2_x = {-1.0, -0.5, 0.0};
  sweep_until_interior(far, [&](const GridRequests& requests) {
    std::vector<double> values;
    for (const auto& r : requests) values.push_back((r.second - 5.0) * (r.second - 5.0));
    return values;
  });
  CHECK(far[0].extra_points == 4);
  CHECK(far[0].minimum().edge == GridEdge::high);
}

TEST_CASE("a statistic beyond the grid's top extends an interior curve upward from the same budget",
          "[verdicts][grid]") {
  // A weight-decay-like curve: nearly flat below its interior minimum at -1.5, rising by 0.01 per half
  // octave above it; the statistic (a point more than 0.045 above the minimum) is beyond the top until x = 1.
  const auto loss = [](double x) { return x <= -1.5 ? 1.0 + 0.001 * (-1.5 - x) : 1.0 + 0.02 * (x + 1.5); };
  EdgePolicy policy;
  policy.beyond_top = [](std::span<const double>, std::span<const double> value) {
    const double lowest = *std::min_element(value.begin(), value.end());
    return std::none_of(value.begin(), value.end(), [&](double v) { return v > lowest + 0.045; });
  };
  std::vector<SweptCurve> curves(1);
  curves[0].log2_x = {-2.5, -2.0, -1.5, -1.0, -0.5, 0.0};
  sweep_until_interior(
      curves,
      [&](const GridRequests& requests) {
        std::vector<double> values;
        for (const auto& r : requests) values.push_back(loss(r.second));
        return values;
      },
      policy);
  // 0.0 gives 1.03, 0.5 1.04, 1.0 1.05 (above 1.045): two extra points, then it stops.
  const std::vector<double> extended = {-2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0};
  CHECK(curves[0].log2_x == extended);
  CHECK(curves[0].extra_points == 2);
  CHECK(curves[0].minimum().edge == GridEdge::interior);
  // Without the statistic, the same interior curve gets nothing; with it, the cap still holds.
  const std::vector<double> x = {-2.5, -2.0, -1.5, -1.0}, flat = {1.001, 1.0005, 1.0, 1.01};
  CHECK(points_to_add(x, flat, 0).empty());
  CHECK(points_to_add(x, flat, 0, policy) == std::vector<double>{-0.5, 0.0, 0.5, 1.0});
  CHECK(points_to_add(x, flat, 4, policy).empty());
  // A minimum at the low edge still extends downward, whatever the statistic says.
  const std::vector<double> falling = {1.0, 1.01, 1.02, 1.03};
  CHECK(points_to_add(x, falling, 3, policy) == std::vector<double>{-3.0});
}

TEST_CASE("a verdicts.json from before three-valued verdicts is re-judged on its CI and marked legacy", "[verdicts]") {
  const auto dir = std::filesystem::path(MUELAB_BINARY_DIR) / "test_verdicts_legacy" / "old-experiment";
  std::filesystem::remove_all(dir.parent_path());
  // Point-judged rows: the first "holds" although its CI straddles 0.5; the second holds on its CI;
  // the third is a control whose CI lies outside the band.
  write_file_atomically(dir / "verdicts.json", R"({"experiment": "old-experiment", "profile": "full", "revision": "5f06ce1-dirty",
    "seed": 7, "verdicts": [
    {"claim": "lr-transfer", "case": "a", "kind": "claim", "measured": 0.1, "ci": [-0.3, 0.68], "predicted": 0.0,
     "tolerance": 0.5, "holds": true, "as_expected": true},
    {"claim": "lr-transfer", "case": "b", "kind": "claim", "measured": 0.0, "ci": [-0.1, 0.1], "predicted": 0.0,
     "tolerance": 0.5, "holds": true, "as_expected": true},
    {"claim": "lr-transfer", "case": "c", "kind": "control", "measured": -1.2, "ci": [-1.3, -1.1], "predicted": 0.0,
     "tolerance": 0.5, "holds": false, "as_expected": true}]})");
  const auto r = read_verdict_report(dir / "verdicts.json");
  CHECK(r.legacy);
  REQUIRE(r.verdicts.size() == 3);
  CHECK(r.verdicts[0].inconclusive());
  CHECK_THAT(r.verdicts[0].reason, Catch::StartsWith("legacy row (point-judged holds), re-judged on its CI"));
  CHECK(r.verdicts[1].holds());
  CHECK(r.verdicts[2].fails());
  CHECK(r.verdicts[2].as_expected());
  CHECK(r.intervals == kPercentileIntervals);  // no "intervals" field: written before the widening
  const auto md = report_markdown({r}, "full", 1.0, {});
  CHECK_THAT(md, Catch::Contains("(legacy)") && Catch::Contains("-dirty") && Catch::Contains("(percentile intervals)"));
}

TEST_CASE("finished_run: only a finished run of the same clean revision, profile and seed", "[verdicts]") {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / "muelab-finished-run";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto write = [&](const std::string& name, const std::string& text) { std::ofstream(dir / name) << text; };
  CHECK(is_clean_revision("abc1234"));
  CHECK(is_clean_revision("v0.3-12-gabc1234"));
  CHECK_FALSE(is_clean_revision("abc1234-dirty"));
  CHECK(is_dirty_revision("abc1234-dirty"));
  CHECK_FALSE(is_dirty_revision("dirty-abc1234"));  // only the suffix git describe --dirty writes
  CHECK_FALSE(is_clean_revision(""));
  CHECK_FALSE(is_clean_revision("unknown"));
  CHECK_FALSE(finished_run(dir, Profile::smoke, 7, "abc1234"));  // nothing there
  write("run.json", R"({"experiment": "x", "profile": "smoke", "seed": 7, "revision": "abc1234"})");
  write("verdicts.json", "{}");
  CHECK_FALSE(finished_run(dir, Profile::smoke, 7, "abc1234"));  // started, no wall time: interrupted
  write("run.json",
        R"({"experiment": "x", "profile": "smoke", "seed": 7, "revision": "abc1234", "wall_seconds": 2.5})");
  CHECK(finished_run(dir, Profile::smoke, 7, "abc1234"));
  CHECK_FALSE(finished_run(dir, Profile::quick, 7, "abc1234"));  // another profile
  CHECK_FALSE(finished_run(dir, Profile::smoke, 8, "abc1234"));  // another seed
  CHECK_FALSE(finished_run(dir, Profile::smoke, 7, "def5678"));  // other code
  write("run.json",
        R"({"experiment": "x", "profile": "smoke", "seed": 7, "revision": "abc1234-dirty", "wall_seconds": 2.5})");
  CHECK_FALSE(finished_run(dir, Profile::smoke, 7, "abc1234-dirty"));  // a dirty tree never counts
  write("run.json", "not json");
  CHECK_FALSE(finished_run(dir, Profile::smoke, 7, "abc1234"));
  fs::remove_all(dir);
}

TEST_CASE("CsvTable writes doubles that round-trip, quotes strings, and spells a missing value nan") {
  CsvTable t({"x", "n", "label"});
  t.add_row({0.1, 3LL, std::string("a, \"b\"")});
  t.add_row({-std::numeric_limits<double>::quiet_NaN(), -2LL, std::string("plain")});
  CHECK(t.to_string() == "x,n,label\n0.10000000000000001,3,\"a, \"\"b\"\"\"\nnan,-2,plain\n");
  CHECK_THROWS_AS(t.add_row({1.0}), std::invalid_argument);
}

TEST_CASE("the machine line names the instruction set that the cpuinfo flags show", "[experiments][output]") {
  const auto isa = instruction_set();
  CHECK((isa == "AVX-512" || isa == "AVX2" || isa == "baseline x86-64" || isa == "non-x86"));
  CHECK(machine_description().find("(" + isa + ")") != std::string::npos);
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string flags;
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("flags", 0) == 0) {
      flags = line + " ";
      break;
    }
  if (flags.empty()) return;  // not Linux on x86: nothing independent to compare with
  const auto has = [&](const std::string& f) { return flags.find(" " + f + " ") != std::string::npos; };
  const bool avx2 = has("avx2") && has("fma") && has("bmi2");
  const bool avx512 = avx2 && has("avx512f") && has("avx512dq") && has("avx512vl") && has("avx512bw");
  CHECK(isa == (avx512 ? "AVX-512" : avx2 ? "AVX2" : "baseline x86-64"));
}

TEST_CASE("the registry lists experiments in the order they were added, not by name", "[experiments][registry]") {
  // `muelab figures` runs Registry::all() in order: an experiment that reads another's result (capacity-gate's
  // gate.json) must come after it even when its name sorts first (batch-transfer, bridge2-transformer).
  Registry registry;
  for (const char* name : {"capacity-gate", "batch-transfer", "zeta", "alpha"}) {
    Experiment e;
    e.name = name;
    registry.add(std::move(e));
  }
  std::vector<std::string> names;
  for (const auto* e : registry.all()) names.push_back(e->name);
  CHECK(names == std::vector<std::string>{"capacity-gate", "batch-transfer", "zeta", "alpha"});
  REQUIRE(registry.find("alpha") != nullptr);
  CHECK(registry.find("alpha")->name == "alpha");
  CHECK(registry.find("beta") == nullptr);
  Experiment twice;
  twice.name = "zeta";
  CHECK_THROWS_AS(registry.add(std::move(twice)), std::logic_error);
  CHECK(registry.all().size() == 4);
}
