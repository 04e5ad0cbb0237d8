// Tests of muelab_analysis (LR optima, drifts, coordinate slopes, results.csv reader) on synthetic
// sweeps with a known optimum and drift. Noise is seeded (the seed is printed); tolerances come from
// the bootstrap CIs, which are standard-error based.
#include "muelab/analysis/lr_analysis.hpp"
#include "muelab/analysis/lr_report.hpp"
#include "muelab/sim/counter_rng.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>

using namespace muelab;

namespace {

constexpr std::uint64_t kSeed = 20240607;

/// loss = 2 + 0.3 (x - x*(d))^2 + noise, x = log2 lr, x*(d) = x0 + drift log2(d / 32).
std::vector<analysis::LrRun> synthetic_sweep(double drift, double noise, std::size_t seeds, std::uint64_t stream) {
  sim::CounterRng rng(kSeed, stream);
  std::vector<analysis::LrRun> runs;
  const double x0 = -8.2;
  std::uint64_t k = 0;
  for (const double d : {32.0, 64.0, 128.0, 256.0}) {
    const double centre = x0 + drift * std::log2(d / 32.0);
    for (int j = -8; j <= 8; ++j) {
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
    CHECK(d.below_grid_step() == (std::abs(drift) <= 0.5));
    const auto verdicts = analysis::drift_verdicts(a, "lr-transfer", nullptr);
    REQUIRE(verdicts.size() == 1);
    CHECK(verdicts.front().holds == (std::abs(drift) <= 0.5));
  }
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
