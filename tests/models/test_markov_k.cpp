// The capacity-bound task (docs/theory.md §9, "The capacity-bound task"): the order-k Markov chain's
// tables, its sampler against those tables, and its exact floors against an independent brute-force
// enumeration and against the sampled loss of the true law (Monte Carlo, fixed seeds, tolerances from
// the standard error).
#include "muelab/models/core/data.hpp"
#include "muelab/models/core/run_config.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <iostream>
#include <map>
#include <numeric>
#include <vector>

namespace mc = muelab::models;

namespace {

struct MeanAndError {
  double mean = 0.0, standard_error = 0.0;
};

MeanAndError mean_and_error(const std::vector<double>& x) {
  const double n = static_cast<double>(x.size());
  const double mean = std::accumulate(x.begin(), x.end(), 0.0) / n;
  double ss = 0.0;
  for (const double v : x) ss += (v - mean) * (v - mean);
  return {mean, std::sqrt(ss / (n - 1.0) / n)};
}

/// P(x_{t+1} | x_0..x_t) for a window shorter than the order, by brute-force enumeration of the
/// stationary law of whole contexts (independent of the block-entropy route the source takes).
double short_context_probability(const mc::MarkovKTable& t, const std::vector<std::int32_t>& seen, std::int32_t next) {
  // The window seen = x_0..x_t (t + 1 < k) followed by next is a prefix of a stationary context.
  const auto prefix_mass = [&](const std::vector<std::int32_t>& prefix) {
    double mass = 0.0;
    for (std::int64_t c = 0; c < t.contexts; ++c) {
      std::int64_t rest = c;
      std::vector<std::int32_t> tokens(static_cast<std::size_t>(t.order));
      for (std::int64_t i = t.order - 1; i >= 0; --i, rest /= t.states)
        tokens[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(rest % t.states);
      if (std::equal(prefix.begin(), prefix.end(), tokens.begin())) mass += t.stationary[static_cast<std::size_t>(c)];
    }
    return mass;
  };
  auto extended = seen;
  extended.push_back(next);
  return prefix_mass(extended) / prefix_mass(seen);
}

}  // namespace

TEST_CASE("markov-k tables: rows are laws and the context law is stationary", "[models][data][markov-k]") {
  const auto t = mc::markov_k_table(5, 2, 0.3, 11);
  REQUIRE(t.contexts == 25);
  const auto v = static_cast<std::size_t>(t.states);
  std::vector<double> next(static_cast<std::size_t>(t.contexts), 0.0);
  for (std::size_t c = 0; c < static_cast<std::size_t>(t.contexts); ++c) {
    double row = 0.0;
    for (std::size_t j = 0; j < v; ++j) {
      CHECK(t.transition[c * v + j] > 0.0);
      row += t.transition[c * v + j];
      next[(c % v) * v + j] += t.stationary[c] * t.transition[c * v + j];
    }
    CHECK(row == Approx(1.0).margin(1e-12));
  }
  CHECK(std::accumulate(t.stationary.begin(), t.stationary.end(), 0.0) == Approx(1.0).margin(1e-12));
  for (std::size_t c = 0; c < next.size(); ++c) CHECK(next[c] == Approx(t.stationary[c]).margin(1e-12));
}

TEST_CASE("markov-k: entropy limits at high and low temperature, and bad shapes are refused", "[models][data][markov-k]") {
  const auto hot = mc::make_markov_k_source(8, 2, 1e3, 3);
  CHECK(hot->entropy_floor() == Approx(std::log(8.0)).margin(2e-3));
  const auto cold = mc::make_markov_k_source(8, 2, 0.05, 3);
  CHECK(cold->entropy_floor() < 0.2);
  CHECK_THROWS_AS(mc::make_markov_k_source(64, 4, 0.3, 1), std::invalid_argument);  // 64^5 > 2^24
  CHECK_THROWS_AS(mc::make_markov_k_source(1, 2, 0.3, 1), std::invalid_argument);
}

TEST_CASE("markov-k: sampled losses of the true law match the exact floors", "[models][data][markov-k]") {
  constexpr std::uint64_t kSeed = 2024;
  std::cout << "markov-k sampling test: seed " << kSeed << "\n";
  const std::int64_t V = 6, k = 3, T = 12, batch = 64, batches = 60;
  const auto table = mc::markov_k_table(V, k, 0.4, 5);
  const auto source = mc::make_markov_k_source(V, k, 0.4, 5);
  const auto v = static_cast<std::size_t>(V);
  // Per position t, the loss −log P(x_{t+1} | x_0..x_t) of the true law.
  std::vector<std::vector<double>> loss(static_cast<std::size_t>(T));
  std::map<std::int64_t, double> first_context_count;
  for (std::int64_t s = 0; s < batches; ++s) {
    const auto b = source->train_batch(kSeed, s, batch, T);
    REQUIRE(b.tokens.size() == static_cast<std::size_t>(batch * T));
    for (std::int64_t r = 0; r < batch; ++r) {
      std::vector<std::int32_t> x;
      for (std::int64_t t = 0; t < T; ++t) x.push_back(b.tokens[static_cast<std::size_t>(r * T + t)]);
      for (std::int64_t t = 0; t < T; ++t) {
        const auto target = b.targets[static_cast<std::size_t>(r * T + t)];
        if (t + 1 < T) REQUIRE(target == x[static_cast<std::size_t>(t + 1)]);
        double p;
        if (t + 1 >= k) {
          std::int64_t c = 0;
          for (std::int64_t i = t - k + 1; i <= t; ++i) c = c * V + x[static_cast<std::size_t>(i)];
          p = table.transition[static_cast<std::size_t>(c) * v + static_cast<std::size_t>(target)];
        } else {
          p = short_context_probability(table, std::vector<std::int32_t>(x.begin(), x.begin() + t + 1), target);
        }
        loss[static_cast<std::size_t>(t)].push_back(-std::log(p));
      }
      std::int64_t c0 = 0;
      for (std::int64_t i = 0; i < k; ++i) c0 = c0 * V + x[static_cast<std::size_t>(i)];
      first_context_count[c0] += 1.0;
    }
  }
  // Positions that see their whole context: the entropy rate; the first k − 1 positions: more.
  std::vector<double> all;
  for (std::int64_t t = 0; t < T; ++t) {
    const auto e = mean_and_error(loss[static_cast<std::size_t>(t)]);
    if (t + 1 >= k) {
      INFO("position " << t << ": sampled " << e.mean << " ± " << e.standard_error << ", entropy rate "
                       << source->entropy_floor());
      CHECK(std::abs(e.mean - source->entropy_floor()) < 4.0 * e.standard_error);
    }
    all.insert(all.end(), loss[static_cast<std::size_t>(t)].begin(), loss[static_cast<std::size_t>(t)].end());
  }
  // The sequence-averaged floor (exact) against the sampled mean (rows are independent sequences;
  // positions within a row are correlated, so the error is taken over per-row means).
  std::vector<double> per_row;
  for (std::size_t r = 0; r < loss[0].size(); ++r) {
    double m = 0.0;
    for (std::int64_t t = 0; t < T; ++t) m += loss[static_cast<std::size_t>(t)][r];
    per_row.push_back(m / static_cast<double>(T));
  }
  const auto seq = mean_and_error(per_row);
  std::cout << "  loss floor at T = " << T << ": exact " << source->loss_floor(T) << ", sampled " << seq.mean << " ± "
            << seq.standard_error << "; entropy rate " << source->entropy_floor() << "\n";
  CHECK(std::abs(seq.mean - source->loss_floor(T)) < 4.0 * seq.standard_error);
  CHECK(source->loss_floor(T) > source->entropy_floor());
  CHECK(source->loss_floor(1) > source->loss_floor(2));
  // The first context of each sequence follows the stationary law (chi-square over 216 cells).
  const double n = static_cast<double>(batch * batches);
  double chi2 = 0.0;
  for (std::int64_t c = 0; c < table.contexts; ++c) {
    const double expected = n * table.stationary[static_cast<std::size_t>(c)];
    const double seen = first_context_count.count(c) ? first_context_count[c] : 0.0;
    chi2 += (seen - expected) * (seen - expected) / expected;
  }
  const double dof = static_cast<double>(table.contexts - 1);
  INFO("chi-square " << chi2 << " on " << dof << " degrees of freedom");
  CHECK(chi2 < dof + 5.0 * std::sqrt(2.0 * dof));
}

TEST_CASE("markov-k: batches depend only on (seed, step) and validation differs from training", "[models][data][markov-k]") {
  const auto a = mc::make_markov_k_source(32, 2, 0.3, 7);
  const auto b = mc::make_markov_k_source(32, 2, 0.3, 7);
  CHECK(a->train_batch(3, 17, 4, 16).tokens == b->train_batch(3, 17, 4, 16).tokens);
  CHECK(a->train_batch(3, 17, 4, 16).tokens != a->train_batch(3, 18, 4, 16).tokens);
  CHECK(a->validation_batch(3, 0, 4, 16).tokens != a->train_batch(3, 0, 4, 16).tokens);
  std::cout << "markov-k V = 32, k = 2, tau = 0.3: " << a->description() << ", floor at T = 64: " << a->loss_floor(64)
            << "\n";
}

TEST_CASE("run config: data.source = markov-k and its limits", "[models][data][markov-k]") {
  const std::string text = R"([model]
d_model = 8
n_layers = 1
d_head = 4
ffn = "dense"
d_ffn = 8
[train]
batch_size = 2
seq_len = 8
steps = 2
[transfer]
lr = 1e-3
init_std = 0.02
[data]
source = "markov-k"
markov_states = 16
markov_order = 2
markov_temperature = 0.3
)";
  const auto run = mc::parse_train_run(text, "t.toml", ".", {});
  CHECK(run.data.source == "markov-k");
  CHECK(run.data.markov_order == 2);
  const auto source = mc::make_token_source(run.data);
  CHECK(source->vocab_size() == 16);
  CHECK(source->loss_floor(8) > source->entropy_floor());
  try {
    (void)mc::parse_train_run(text, "t.toml", ".", {"data.markov_order=6"});
    FAIL("expected a ConfigError");
  } catch (const muelab::theory::ConfigError& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find("data.markov_order") != std::string::npos);
    CHECK(what.find("accepted") != std::string::npos);
  }
  CHECK_THROWS_AS(mc::parse_train_run(text, "t.toml", ".", {"data.markov_order=0"}), muelab::theory::ConfigError);
}
