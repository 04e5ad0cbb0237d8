// Tests of muelab_analysis (LR optima, drifts, coordinate slopes, results.csv reader) on synthetic
// sweeps with a known optimum and drift. Noise is seeded (the seed is printed); tolerances come from
// the bootstrap CIs, which are standard-error based.
#include "muelab/analysis/coord_analysis.hpp"
#include "muelab/analysis/knee_analysis.hpp"
#include "muelab/analysis/lr_analysis.hpp"
#include "muelab/analysis/lr_report.hpp"
#include "muelab/sim/counter_rng.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <tuple>

using namespace muelab;

namespace {

constexpr std::uint64_t kSeed = 20240607;

/// loss = 2 + 0.3 (x - x*(d))^2 + noise, x = log2 lr on -8 + 0.5 j (|j| ≤ half_width), x*(d) = x0 +
/// drift log2(d / 32), d over `widths`.
std::vector<analysis::LrRun> synthetic_sweep(double drift, double noise, std::size_t seeds, std::uint64_t stream,
                                             std::vector<double> widths = {32.0, 64.0, 128.0, 256.0},
                                             int half_width = 8) {
  sim::CounterRng rng(kSeed, stream);
  std::vector<analysis::LrRun> runs;
  const double x0 = -8.2;
  std::uint64_t k = 0;
  for (const double d : widths) {
    const double centre = x0 + drift * std::log2(d / 32.0);
    for (int j = -half_width; j <= half_width; ++j) {
      const double x = -8.0 + 0.5 * j;
      for (std::size_t s = 0; s < seeds; ++s) {
        analysis::LrRun r;
        r.axes = {{"d_model", std::to_string(static_cast<int>(d))}, {"rule", "\"complete-mue\""}};
        r.seed = std::to_string(s);
        r.lr = std::exp2(x);
        r.loss = 2.0 + 0.3 * (x - centre) * (x - centre) + noise * rng.normal(k++, 0, 0, 0);
        runs.push_back(r);
      }
    }
  }
  return runs;
}

}  // namespace

TEST_CASE("fit_lr_optimum recovers the vertex of an exact parabola on an uneven grid", "[analysis]") {
  const std::vector<double> x = {-10.0, -9.0, -8.5, -7.0, -6.0};
  std::vector<double> y;
  for (const double v : x) y.push_back(1.0 + 0.7 * (v - (-8.3)) * (v - (-8.3)));
  const auto o = analysis::fit_lr_optimum(x, y);
  CHECK(o.valid);
  CHECK_FALSE(o.at_edge);
  CHECK(o.log2_lr == Approx(-8.3).margin(1e-12));
  CHECK(o.loss == Approx(1.0).margin(1e-12));
}

TEST_CASE("fit_lr_optimum: edge minima are flagged, diverged points never win", "[analysis]") {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> x = {0.0, 1.0, 2.0, 3.0};
  const auto edge = analysis::fit_lr_optimum(x, std::vector<double>{1.0, 2.0, 3.0, 4.0});
  CHECK(edge.at_edge);
  CHECK(edge.log2_lr == 0.0);
  const auto diverged = analysis::fit_lr_optimum(x, std::vector<double>{3.0, 2.0, 1.0, inf});
  CHECK(diverged.at_edge);  // the neighbour diverged: only bounded
  CHECK(diverged.log2_lr == 2.0);
  CHECK_FALSE(analysis::fit_lr_optimum(x, std::vector<double>{inf, inf, inf, inf}).valid);
}

TEST_CASE("analyze_lr_runs measures a known drift with a CI that covers it", "[analysis]") {
  std::cout << "test seed " << kSeed << "\n";
  for (const double drift : {0.0, -1.0, 0.25}) {
    const auto a = analysis::analyze_lr_runs(synthetic_sweep(drift, 0.02, 8, static_cast<std::uint64_t>(10 + 4 * drift)), kSeed);
    REQUIRE(a.grid_step == Approx(0.5));
    REQUIRE(a.drifts.size() == 1);
    const auto& d = a.drifts.front();
    INFO("drift " << drift << " measured " << d.drift << " CI [" << d.ci.low << ", " << d.ci.high << "]");
    CHECK(d.axis == "d_model");
    CHECK(d.ci.low <= drift);
    CHECK(drift <= d.ci.high);
    CHECK(d.ci.high - d.ci.low < 0.3);  // informative: well below the grid step
    CHECK(d.doublings() == Approx(3.0));
  }
}

TEST_CASE("analyze_lr_runs: keys swept in lockstep with an axis move with it (d_expert = d_model)", "[analysis]") {
  std::cout << "test seed " << kSeed << "\n";
  // A width sweep that sets d_expert = d_model, and a second rule: one drift row per rule, fitted along
  // the first of the two keys in name order, with the other listed in lockstep, never held fixed.
  auto runs = synthetic_sweep(-1.0, 0.02, 8, 70);
  auto second = synthetic_sweep(0.0, 0.02, 8, 71);
  for (auto& r : second) r.axes["rule"] = "'sp'";
  runs.insert(runs.end(), second.begin(), second.end());
  for (auto& r : runs) r.axes["d_expert"] = r.axes.at("d_model");
  const auto a = analysis::analyze_lr_runs(runs, kSeed);
  REQUIRE(a.drifts.size() == 2);
  for (const auto& d : a.drifts) {
    CHECK(d.axis == "d_expert");
    CHECK(d.lockstep == std::vector<std::string>{"d_model"});
    CHECK(d.slice.count("d_model") == 0);
    CHECK(d.axis_values.size() == 4);
    const double truth = d.slice.at("rule") == "'sp'" ? 0.0 : -1.0;
    INFO("rule " << d.slice.at("rule") << " drift " << d.drift << " CI [" << d.ci.low << ", " << d.ci.high << "]");
    const double standard_error = (d.ci.high - d.ci.low) / (2 * 1.96);  // the bootstrap CI's SE
    CHECK(std::abs(d.drift - truth) < 4 * standard_error);
    CHECK(standard_error < 0.05);  // informative
    CHECK(analysis::drift_case(d, "").find("(with d_model in lockstep)") != std::string::npos);
  }
  // A key that is not a function of the axis (two d_expert values at one d_model) is a slice key.
  auto crossed = synthetic_sweep(0.0, 0.02, 4, 72, {32.0, 64.0});
  auto other = crossed;
  for (auto& r : crossed) r.axes["d_expert"] = "16";
  for (auto& r : other) r.axes["d_expert"] = "32";
  crossed.insert(crossed.end(), other.begin(), other.end());
  const auto b = analysis::analyze_lr_runs(crossed, kSeed);
  for (const auto& d : b.drifts) CHECK(d.lockstep.empty());
}

namespace {
const experiments::ClaimSpec kStaysPut{"lr-transfer", "drift of log2 lr* per doubling", experiments::VerdictKind::claim,
                                       experiments::Sidedness::two_sided, 0.0, 0.25};
experiments::Verdict judged_drift(const analysis::LrAnalysis& a) {
  const auto rows = analysis::drift_verdicts(a, kStaysPut, {0.25, 0.5}, nullptr);
  REQUIRE(rows.size() == 1);
  INFO(rows.front().case_name << ": " << rows.front().measured << " [" << rows.front().ci_low << ", "
                              << rows.front().ci_high << "] tolerance " << rows.front().tolerance << " -> "
                              << experiments::to_string(rows.front().outcome) << " " << rows.front().reason);
  return rows.front();
}
}  // namespace

TEST_CASE("the stays-put bound: 0.25 octave per doubling and 0.5 octave over the range", "[analysis][judge]") {
  const analysis::StaysPut s{0.25, 0.5};
  CHECK(s.bound(1.0) == 0.25);
  CHECK(s.bound(2.0) == 0.25);
  CHECK(s.bound(4.0) == Approx(0.125));  // 16x range: the total shift binds
  CHECK(s.bound(0.0) == 0.25);
}

TEST_CASE("the judge on known answers: synthetic LR sweeps with a known optimum path", "[analysis][judge]") {
  std::cout << "known-answer judge seed " << kSeed << "\n";
  const std::vector<double> widths = {32.0, 64.0, 128.0};  // 2 doublings: bound 0.25 per doubling
  SECTION("drift 0 with small noise holds") {
    const auto v = judged_drift(analysis::analyze_lr_runs(synthetic_sweep(0.0, 0.01, 8, 50, widths), kSeed));
    CHECK(v.holds());
    CHECK(v.tolerance == 0.25);
  }
  SECTION("drift -1 per doubling fails") {
    const auto v = judged_drift(analysis::analyze_lr_runs(synthetic_sweep(-1.0, 0.01, 8, 51, widths), kSeed));
    CHECK(v.fails());
    CHECK(v.measured == Approx(-1.0).margin(0.1));
  }
  SECTION("drift 0 with large noise is inconclusive (the CI straddles the band)") {
    const auto v = judged_drift(analysis::analyze_lr_runs(synthetic_sweep(0.0, 0.6, 3, 52, widths), kSeed));
    CHECK(v.inconclusive());
    CHECK_THAT(v.reason, Catch::StartsWith("CI"));  // straddles a bound or is wider than the band
  }
  SECTION("an optimum beyond the grid is inconclusive, 'optimum at grid edge', with the points to add") {
    // x* = -8.2 + log2(d/32) on the grid -9..-7: at d = 64 (x* = -7.2) the best grid point is the top
    // one, -7; at d = 128 (x* = -6.2) the optimum lies beyond it.
    const auto a = analysis::analyze_lr_runs(synthetic_sweep(1.0, 0.01, 4, 53, widths, 2), kSeed);
    const auto v = judged_drift(a);
    CHECK(v.inconclusive());
    CHECK_THAT(v.reason, Catch::StartsWith("optimum at grid edge (2 of 3 curves)"));
    const auto ext = analysis::grid_extensions(a);
    REQUIRE(ext.size() == 2);
    for (const auto& e : ext) {
      INFO(analysis::describe(e.axes));
      CHECK(e.axes.at("d_model") != "32");
      CHECK(e.edge == experiments::GridEdge::high);
      REQUIRE(e.log2_lr_to_add.size() == 4);  // cap: 4 half-octave points above -7
      CHECK(e.log2_lr_to_add.front() == Approx(-6.5));
      CHECK(e.log2_lr_to_add.back() == Approx(-5.0));
    }
    // Once the sweep adds them, the optima are interior and the drift is measured (and fails: drift +1).
    auto runs = synthetic_sweep(1.0, 0.01, 4, 53, widths, 2);
    const auto more = synthetic_sweep(1.0, 0.01, 4, 54, widths, 6);
    for (const auto& r : more)
      if (std::log2(r.lr) > -7.0 + 1e-9 && r.axes.at("d_model") != "32") runs.push_back(r);
    const auto extended = analysis::analyze_lr_runs(runs, kSeed);
    CHECK(analysis::grid_extensions(extended).empty());
    CHECK(judged_drift(extended).fails());
  }
}

TEST_CASE("discrimination: drift(rule) - drift(control) with a paired CI", "[analysis][judge]") {
  const std::vector<double> widths = {32.0, 64.0, 128.0};
  const auto rule = analysis::analyze_lr_runs(synthetic_sweep(0.0, 0.01, 6, 60, widths), kSeed);
  const auto wrong = analysis::analyze_lr_runs(synthetic_sweep(-1.0, 0.01, 6, 61, widths), kSeed);
  const experiments::ClaimSpec separated{"lr-transfer", "drift(rule) - drift(wrong rule)", experiments::VerdictKind::claim,
                                         experiments::Sidedness::at_least, 0.25, 0.0};
  const auto v = analysis::discrimination_verdict(separated, "rule vs wrong", rule, rule.drifts.front(), wrong,
                                                  wrong.drifts.front(), kSeed);
  INFO(v.measured << " [" << v.ci_low << ", " << v.ci_high << "]");
  CHECK(v.measured == Approx(1.0).margin(0.1));
  CHECK(v.holds());
  const auto same = analysis::discrimination_verdict(separated, "rule vs itself", rule, rule.drifts.front(), rule,
                                                     rule.drifts.front(), kSeed);
  CHECK(same.measured == 0.0);
  CHECK(same.fails());  // a rule cannot be told apart from itself
}

TEST_CASE("power check: an axis on which the wrong rule also holds is not informative", "[analysis][judge]") {
  auto claim = experiments::judge(kStaysPut, "rule", 0.01, -0.05, 0.07);
  REQUIRE(claim.holds());
  std::vector<experiments::Verdict> rows = {claim};
  const auto power_fails = experiments::judge(experiments::as_control(kStaysPut), "wrong", -0.9, -1.1, -0.7);
  CHECK(analysis::mark_not_informative(rows, power_fails) == 0);
  CHECK(rows.front().holds());
  const auto power_holds = experiments::judge(experiments::as_control(kStaysPut), "wrong", -0.05, -0.1, 0.0);
  CHECK(analysis::mark_not_informative(rows, power_holds) == 1);
  CHECK(rows.front().inconclusive());
  CHECK_THAT(rows.front().reason, Catch::StartsWith("not informative"));
  CHECK(rows.front().reason == "not informative: the wrong rule (power check) also holds");
  // Any other control predicted to fail is named in the reason.
  std::vector<experiments::Verdict> again = {claim};
  const auto control_inconclusive = experiments::judge(experiments::as_control(kStaysPut), "mup", -0.1, -0.4, 0.2);
  REQUIRE(control_inconclusive.inconclusive());
  CHECK(analysis::mark_not_informative(again, control_inconclusive, "control") == 1);
  CHECK(again.front().reason == "not informative: the control did not fail");
}

TEST_CASE("per-curve bootstrap CI covers the known optimum", "[analysis]") {
  const auto a = analysis::analyze_lr_runs(synthetic_sweep(0.0, 0.05, 10, 99), kSeed + 1);
  REQUIRE(a.curves.size() == 4);
  for (const auto& c : a.curves) {
    INFO(analysis::describe(c.axes) << ": " << c.optimum.log2_lr << " [" << c.ci.low << ", " << c.ci.high << "]");
    CHECK(c.ci.low <= -8.2);
    CHECK(-8.2 <= c.ci.high);
    CHECK(c.seeds.size() == 10);
  }
}

TEST_CASE("coordinate_slope recovers a power law with a bootstrap CI", "[analysis]") {
  sim::CounterRng rng(kSeed, 3);
  const std::vector<double> d = {32, 64, 128, 256, 512};
  std::vector<std::vector<double>> values(6);
  std::uint64_t k = 0;
  for (auto& row : values)
    for (const double w : d) row.push_back(0.7 * std::sqrt(w) * (1.0 + 0.03 * rng.normal(k++, 0, 0, 0)));
  const auto e = analysis::coordinate_slope(d, values, kSeed);
  CHECK(e.ci.low <= 0.5);
  CHECK(0.5 <= e.ci.high);
  CHECK(e.slope == Approx(0.5).margin(0.05));
}

TEST_CASE("read_sweep_results reads a muelab sweep results.csv, and malformed input is one clean error", "[analysis]") {
  const auto dir = std::filesystem::path(MUELAB_BINARY_DIR) / "test_analysis_sweep";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream f(dir / "results.csv");
  f << "run_id,status,exit_code,transfer.lr,transfer.rule,model.d_model,trainer.seed,final_train_loss,"
       "final_validation_loss,best_validation_loss,diverged_step,wall_time_s,tokens_per_s\n";
  int id = 0;
  for (const char* rule : {"\"\"\"sp\"\"\"", "\"\"\"complete-mue\"\"\""})
    for (const int d : {32, 64})
      for (const double lr : {1e-3, 2e-3, 4e-3})
        for (const int seed : {1, 2}) {
          const double x = std::log2(lr) - std::log2(2e-3);
          const bool diverge = lr > 3e-3 && d == 64 && seed == 2;
          f << id++ << "," << (diverge ? "diverged" : "ok") << ",0," << lr << "," << rule << "," << d << "," << seed
            << ",0," << (diverge ? std::string() : std::to_string(1.0 + x * x + 0.001 * seed)) << ",0,,1,1\n";
        }
  f << id << ",failed,2,1e-3,\"\"\"sp\"\"\",32,3,,,,,,\n";
  f.close();
  const auto t = analysis::read_sweep_results(dir / "results.csv", {});
  CHECK(t.lr_key == "transfer.lr");
  CHECK(t.runs.size() == 24);
  CHECK(t.diverged == 2);
  CHECK(t.failed == 1);
  CHECK(t.runs.front().axes.at("transfer.rule") == "\"sp\"");
  const auto a = analysis::analyze_lr_runs(t.runs, kSeed);
  CHECK(a.curves.size() == 4);
  CHECK(a.drifts.size() == 2);  // d_model per rule; the rule axis is categorical

  std::ofstream bad(dir / "bad.csv");
  bad << "run_id,status,exit_code,transfer.lr,final_train_loss,final_validation_loss\n1,ok,0,abc,1,1\n";
  bad.close();
  CHECK_THROWS_WITH(analysis::read_sweep_results(dir / "bad.csv", {}), Catch::Contains("transfer.lr") && Catch::Contains("not a number"));
  CHECK_THROWS_WITH(analysis::read_sweep_results(dir / "missing.csv", {}), Catch::Contains("cannot read"));
}

namespace {

/// Coord-check measurements with known log-log slopes: size = c · d^slope · (1 + 3% noise) for
/// d = 32..512, `seeds` seeds (seeded noise).
std::vector<analysis::CoordMeasurement> synthetic_coord(std::size_t seeds) {
  sim::CounterRng rng(kSeed, 11);
  std::vector<analysis::CoordMeasurement> out;
  std::uint64_t k = 0;
  struct Truth {
    const char* rule;
    const char* quantity;
    std::int64_t step;
    double slope;
  };
  for (const Truth t : {Truth{"mup", "residual_rms", 9, 0.0}, Truth{"sp", "residual_rms", 9, 0.5},
                        Truth{"mup", "output_logits_rms", 0, -0.5}, Truth{"mup", "attention_logits_rms", 0, -0.5},
                        Truth{"mup", "output_logits_rms", 9, 0.02}})
    for (std::size_t s = 0; s < seeds; ++s)
      for (const double d : {32.0, 64.0, 128.0, 256.0, 512.0})
        out.push_back({t.rule, t.quantity, "d_model", t.step, d, std::to_string(s),
                       1.3 * std::pow(d, t.slope) * (1.0 + 0.03 * rng.normal(k++, 0, 0, 0))});
  return out;
}

}  // namespace

TEST_CASE("coord_check_exception: output and attention logits at the first step only", "[analysis][coord]") {
  CHECK(analysis::coord_check_exception("output_logits_rms", 0).has_value());
  CHECK(analysis::coord_check_exception("attention_logits_rms", 0).has_value());
  CHECK_FALSE(analysis::coord_check_exception("output_logits_rms", 1).has_value());
  CHECK_FALSE(analysis::coord_check_exception("attention_logits", 9).has_value());
  CHECK_FALSE(analysis::coord_check_exception("residual_rms", 0).has_value());
}

TEST_CASE("analyze_coord_measurements recovers known slopes, exceptions are reported but not judged", "[analysis][coord]") {
  std::cout << "coord synthetic seed " << kSeed << "\n";
  const auto slopes = analysis::analyze_coord_measurements(synthetic_coord(6), kSeed);
  REQUIRE(slopes.size() == 5);
  std::map<std::tuple<std::string, std::string, std::int64_t>, double> truth = {
      {{"mup", "residual_rms", 9}, 0.0},          {{"sp", "residual_rms", 9}, 0.5},
      {{"mup", "output_logits_rms", 0}, -0.5},    {{"mup", "attention_logits_rms", 0}, -0.5},
      {{"mup", "output_logits_rms", 9}, 0.02}};
  for (const auto& s : slopes) {
    const double want = truth.at({s.rule, s.quantity, s.step});
    INFO(s.rule << " " << s.quantity << " step " << s.step << ": " << s.estimate.slope << " [" << s.estimate.ci.low
                << ", " << s.estimate.ci.high << "]");
    CHECK(s.seeds == 6);
    CHECK(s.axis_values.size() == 5);
    // 3% noise per point: the slope's standard error is ≈ 0.03/(√6·std(ln d)) ≈ 0.01; the CI covers it.
    CHECK(s.estimate.ci.low <= want);
    CHECK(want <= s.estimate.ci.high);
    CHECK(s.estimate.ci.high - s.estimate.ci.low < 0.1);
    CHECK(s.exception.has_value() == (s.step == 0));
  }
  const auto verdicts = analysis::coord_slope_verdicts(slopes, [](const std::string& r) { return r == "sp"; });
  REQUIRE(verdicts.size() == 3);  // the two step-0 logit rows are exceptions
  for (const auto& v : verdicts) {
    INFO(v.case_name);
    CHECK(v.claim == "coord-check");
    CHECK(v.as_expected());  // mup |slope| < 0.1 holds; the sp control (+0.5) does not hold
    CHECK((v.kind == experiments::VerdictKind::control) == (v.case_name.rfind("control: sp", 0) == 0));
  }
  const auto table = analysis::coord_slopes_table(slopes).to_string();
  CHECK(table.find("reported, not judged") != std::string::npos);
}

TEST_CASE("analyze_coord_measurements drops incomplete seeds and rejects bad groups", "[analysis][coord]") {
  auto data = synthetic_coord(3);
  data.pop_back();  // seed 2 of the last group loses d = 512
  const auto slopes = analysis::analyze_coord_measurements(data, kSeed);
  const auto it = std::find_if(slopes.begin(), slopes.end(),
                               [](const auto& s) { return s.quantity == "output_logits_rms" && s.step == 9; });
  REQUIRE(it != slopes.end());
  CHECK(it->seeds == 2);
  auto duplicate = synthetic_coord(2);
  duplicate.push_back(duplicate.front());
  CHECK_THROWS_WITH(analysis::analyze_coord_measurements(duplicate, kSeed), Catch::Contains("duplicate"));
  std::vector<analysis::CoordMeasurement> one_width = {{"mup", "residual_rms", "d_model", 9, 32.0, "0", 1.0}};
  CHECK_THROWS_WITH(analysis::analyze_coord_measurements(one_width, kSeed), Catch::Contains(">= 2 positive axis values"));
  std::vector<analysis::CoordMeasurement> zero = {{"mup", "residual_rms", "d_model", 9, 32.0, "0", 1.0},
                                                  {"mup", "residual_rms", "d_model", 9, 64.0, "0", 0.0}};
  CHECK_THROWS_WITH(analysis::analyze_coord_measurements(zero, kSeed), Catch::Contains("not a positive number"));
}

TEST_CASE("read_coord_csv reads coord.csv and malformed input is one clean error naming the field", "[analysis][coord]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(MUELAB_BINARY_DIR) / "test_coord_csv";
  fs::create_directories(dir);
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return dir / name;
  };
  const auto good = write("good.csv",
                          "rule,quantity,step,axis,axis_value,seed,value,extra\n"
                          "mup,residual_rms,9,d_model,32,0,1.5,x\n"
                          "\"complete-mue\",output_logits_rms,0,d_model,64,1,0.25,y\n");
  const auto m = analysis::read_coord_csv(good);
  REQUIRE(m.size() == 2);
  CHECK(m[1].rule == "complete-mue");
  CHECK(m[1].step == 0);
  CHECK(m[1].axis_value == 64.0);
  CHECK(m[1].value == 0.25);
  const std::string header = "rule,quantity,step,axis,axis_value,seed,value\n";
  struct Bad {
    const char* body;
    const char* message;
  };
  for (const Bad b : {Bad{"rule,quantity,step,axis,seed,value\nmup,q,0,d,0,1\n", "column axis_value not found"},
                      Bad{"mup,q,zero,d,32,0,1\n", "field step"}, Bad{"mup,q,1.5,d,32,0,1\n", "field step"},
                      Bad{"mup,q,0,d,-32,0,1\n", "field axis_value"}, Bad{"mup,q,0,d,32,0,abc\n", "field value"},
                      Bad{"mup,q,0,d,32,0\n", "cells"}, Bad{",q,0,d,32,0,1\n", "must not be empty"}, Bad{"", "no measurements"}}) {
    const std::string text = std::string(b.body).rfind("rule,", 0) == 0 ? b.body : header + b.body;
    const auto path = write("bad.csv", text);
    INFO(text);
    CHECK_THROWS_WITH(analysis::read_coord_csv(path), Catch::Contains(b.message));
    try {
      (void)analysis::read_coord_csv(path);
    } catch (const std::exception& e) {
      CHECK(std::string(e.what()).find('\n') == std::string::npos);
    }
  }
  CHECK_THROWS_WITH(analysis::read_coord_csv(dir / "missing.csv"), Catch::Contains("cannot read"));
}

TEST_CASE("upper_knee by hand: interpolated crossing of minimum + delta right of the minimum", "[analysis][knee]") {
  const std::vector<double> x = {0.0, 1.0, 2.0, 3.0, 4.0};
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  // min 0.99 at x = 1, threshold 1.04: last within x = 3 (1.03), first beyond x = 4 (1.11):
  // 3 + (1.04 - 1.03) / (1.11 - 1.03) = 3.125
  CHECK(*analysis::upper_knee(x, std::vector<double>{1.00, 0.99, 1.00, 1.03, 1.11}, 0.05) == Approx(3.125));
  // a missing point (x = 3) is interpolated across; points left of the minimum never count
  CHECK(*analysis::upper_knee(x, std::vector<double>{1.50, 0.99, 1.00, nan, 1.11}, 0.05) ==
        Approx(2.0 + 0.04 / 0.11 * 2.0));  // last within x = 2, first beyond x = 4
  // a diverged point beyond: the knee is bounded by it
  CHECK(*analysis::upper_knee(x, std::vector<double>{1.00, 0.99, 1.00, 1.02, inf}, 0.05) == Approx(4.0));
  // never beyond minimum + delta inside the grid, or nothing finite: no knee
  CHECK_FALSE(analysis::upper_knee(x, std::vector<double>{1.00, 0.99, 1.00, 1.02, 1.03}, 0.05).has_value());
  CHECK_FALSE(analysis::upper_knee(x, std::vector<double>{nan, nan, inf, nan, nan}, 0.05).has_value());
}

namespace {

/// Weight-decay curves with a known knee path: loss = 2 + 0.1 max(0, x - k(d))^2 + noise, x = log2 λ on
/// -9 + 0.5 j (j = 0..16), k(d) = -5 + drift log2(d / 32); the knee for delta = 0.04 is k(d) + √0.4.
std::vector<analysis::LrRun> synthetic_wd_sweep(double drift, double noise, std::size_t seeds, std::uint64_t stream,
                                                double top = -1.0) {
  sim::CounterRng rng(kSeed, stream);
  std::vector<analysis::LrRun> runs;
  std::uint64_t k = 0;
  for (const double d : {32.0, 64.0, 128.0}) {
    const double knee = -5.0 + drift * std::log2(d / 32.0);
    for (double x = -9.0; x <= top + 1e-9; x += 0.5)
      for (std::size_t s = 0; s < seeds; ++s) {
        const double rise = std::max(0.0, x - knee);
        runs.push_back({{{"d_model", std::to_string(static_cast<int>(d))}},
                        std::to_string(s),
                        std::exp2(x),
                        2.0 + 0.1 * rise * rise + noise * rng.normal(k++, 0, 0, 0)});
      }
  }
  return runs;
}

}  // namespace

TEST_CASE("knee_drift measures a known knee drift with a CI that covers it, and flags a knee beyond the grid",
          "[analysis][knee]") {
  std::cout << "test seed " << kSeed << "\n";
  for (const double drift : {0.0, -1.0}) {
    const auto a =
        analysis::analyze_lr_runs(synthetic_wd_sweep(drift, 0.005, 8, 40 + static_cast<std::uint64_t>(-drift)), kSeed);
    REQUIRE(a.drifts.size() == 1);
    const auto k = analysis::knee_drift(a, a.drifts.front(), 0.04, kSeed, 500);
    INFO("drift " << drift << " measured " << k.drift << " CI [" << k.ci.low << ", " << k.ci.high << "]");
    REQUIRE(k.all_knees_found());
    CHECK(*k.knees.front() == Approx(-5.0 + std::sqrt(0.4)).margin(0.15));
    CHECK(k.ci.low <= drift);
    CHECK(drift <= k.ci.high);
    CHECK(k.ci.high - k.ci.low < 0.25);  // sharp: the rise is steep where the knee sits
    CHECK(k.censored_resamples == 0);
  }
  // the grid stops before the widest model's knee (-3 + 0.63 for drift +1): no knee, no drift
  const auto a = analysis::analyze_lr_runs(synthetic_wd_sweep(1.0, 0.005, 4, 50, -3.0), kSeed);
  const auto k = analysis::knee_drift(a, a.drifts.front(), 0.04, kSeed, 200);
  CHECK_FALSE(k.all_knees_found());
  CHECK(std::isnan(k.drift));
}
