// CUDA parity suite, permutation stage (models/cuda/src/permutation.cu): the whole dispatch chain
// on the device (router probabilities, top-a with forced ties, gates, permutation by expert with
// and without capacity drops, combine and the backward of each) against the CPU's grouping, and
// on the host the permutation offsets, the kept-row bound and the grouped GEMM's row-tile grid.
// Fixtures: parity_fixtures.hpp.
#include "parity_fixtures.hpp"

#include "muelab/models/shared/grouped_gemm.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

TEMPLATE_TEST_CASE("cuda parity: router, top-a with forced ties, gates, permutation, combine and their backward",
                   "[cuda][parity]", float, double) {
  using T = TestType;
  const index_t n = 53, N = 7, groups = 1, per_group = 3, a = 3, d = 11;
  for (const bool sigmoid_router : {false, true}) {
    for (const index_t capacity : {n * a, index_t{20}}) {  // dropless, then capacity drops
      CAPTURE(sigmoid_router, capacity);
      // scores quantized to 3 values → many exact ties in p; every expert is hit (checked below)
      auto scores = draws<T>(static_cast<std::size_t>(n * N), 7);
      for (auto& s : scores) s = static_cast<T>(std::round(static_cast<double>(s)));
      std::vector<double> bias(static_cast<std::size_t>(N), 0.0);
      bias[3] = 0.25;
      std::vector<T> p(scores.size());
      std::vector<index_t> choice(static_cast<std::size_t>(n * a));
      std::vector<T> gate(static_cast<std::size_t>(n * a));
      for (index_t t = 0; t < n; ++t) {
        if (sigmoid_router)
          for (index_t e = 0; e < N; ++e)
            p[static_cast<std::size_t>(t * N + e)] = sh::sigmoid(scores[static_cast<std::size_t>(t * N + e)]);
        else
          sh::softmax_row(scores.data() + t * N, N, p.data() + t * N);
        sh::top_a_row(p.data() + t * N, bias.data(), N, groups, per_group, choice.data() + t * a);
        sh::gates_row(p.data() + t * N, choice.data() + t * a, a, true, gate.data() + t * a);
      }
      // CPU grouping (models/cpu moe_forward): token order inside each expert, capacity drops
      std::vector<index_t> load(static_cast<std::size_t>(N), 0), position(static_cast<std::size_t>(n * a), -1);
      std::vector<std::vector<index_t>> rows_of(static_cast<std::size_t>(N));
      for (index_t t = 0; t < n; ++t)
        for (index_t j = 0; j < a; ++j) {
          const auto e = static_cast<std::size_t>(choice[static_cast<std::size_t>(t * a + j)]);
          if (load[e] < capacity) rows_of[e].push_back(t * a + j);
          ++load[e];
        }
      for (const auto count : load) REQUIRE(count > 0);  // every expert hit
      std::vector<index_t> rows, slots;
      for (const auto& list : rows_of)
        for (const auto idx : list) {
          position[static_cast<std::size_t>(idx)] = static_cast<index_t>(rows.size());
          rows.push_back(idx / a);
          slots.push_back(idx % a);
        }
      const auto kept = static_cast<index_t>(rows.size());
      const auto y = draws<T>(static_cast<std::size_t>(kept * d), 8);
      const auto df = draws<T>(static_cast<std::size_t>(n * d), 9);
      const T route = T(1.75);
      std::vector<T> out(static_cast<std::size_t>(n * d), T(0)), dy(static_cast<std::size_t>(kept * d)),
          dgate(static_cast<std::size_t>(n * a), T(0));
      for (index_t e = 0; e < N; ++e)  // the CPU's expert-major weighted scatter
        for (const auto idx : rows_of[static_cast<std::size_t>(e)]) {
          const auto r = position[static_cast<std::size_t>(idx)];
          for (index_t k = 0; k < d; ++k)
            out[static_cast<std::size_t>(idx / a * d + k)] +=
                (route * gate[static_cast<std::size_t>(idx)]) * y[static_cast<std::size_t>(r * d + k)];
        }
      for (index_t r = 0; r < kept; ++r) {
        const auto t = rows[static_cast<std::size_t>(r)];
        const auto idx = static_cast<std::size_t>(t * a + slots[static_cast<std::size_t>(r)]);
        T dot(0);
        for (index_t k = 0; k < d; ++k) {
          dy[static_cast<std::size_t>(r * d + k)] = (route * gate[idx]) * df[static_cast<std::size_t>(t * d + k)];
          dot += df[static_cast<std::size_t>(t * d + k)] * y[static_cast<std::size_t>(r * d + k)];
        }
        dgate[idx] = route * dot;
      }
      std::vector<T> dp(static_cast<std::size_t>(n * N), T(0)), ds(dp.size());
      for (index_t t = 0; t < n; ++t) {
        sh::gates_row_backward(p.data() + t * N, choice.data() + t * a, gate.data() + t * a, dgate.data() + t * a, a,
                               true, dp.data() + t * N);
        if (sigmoid_router)
          for (index_t e = 0; e < N; ++e) {
            const auto i = static_cast<std::size_t>(t * N + e);
            ds[i] = dp[i] * (p[i] * (T(1) - p[i]));
          }
        else
          sh::softmax_row_backward(p.data() + t * N, dp.data() + t * N, N, T(1), ds.data() + t * N);
      }

      mc::DeviceArray<T> g_scores(scores), g_p(p.size()), g_gate(gate.size()), g_y(y), g_df(df), g_out(out.size()),
          g_dy(dy.size() + 1), g_dgate(dgate.size()), g_dp(dp.size()), g_ds(ds.size());
      mc::DeviceArray<double> g_bias(bias);
      mc::DeviceArray<index_t> g_choice(choice.size()), g_load(load.size()), g_offsets(load.size() + 1),
          g_rows(static_cast<std::size_t>(n * a)), g_slots(static_cast<std::size_t>(n * a)),
          g_position(static_cast<std::size_t>(n * a));
      mc::router_probabilities(g_scores.data(), n, N, sigmoid_router, g_p.data());
      mc::top_a_gates(g_p.data(), g_bias.data(), n, N, groups, per_group, true, g_choice.data(), g_gate.data());
      mc::permute_by_expert(g_choice.data(), n, a, N, capacity, g_load.data(), g_offsets.data(), g_rows.data(),
                            g_slots.data(), g_position.data());
      mc::combine(g_y.data(), g_position.data(), g_choice.data(), g_gate.data(), route, true, n, a, d, g_out.data(),
                  false);
      mc::combine_backward(g_df.data(), g_y.data(), g_rows.data(), g_slots.data(), g_gate.data(), route,
                           g_offsets.data() + N, n * a, n, a, d, g_dy.data(), g_dgate.data());
      mc::gates_backward(g_p.data(), g_choice.data(), g_gate.data(), g_dgate.data(), n, N, a, true, g_dp.data());
      mc::router_backward(g_p.data(), g_dp.data(), n, N, sigmoid_router, g_ds.data());
      mc::synchronize();
      CHECK_PARITY(g_p.download(), p, tolerance<T>());
      CHECK(g_choice.download() == choice);  // exact: same keys, same tie-break
      CHECK_PARITY(g_gate.download(), gate, tolerance<T>());
      CHECK(g_load.download() == load);
      std::vector<index_t> offsets(static_cast<std::size_t>(N) + 1, 0);
      for (index_t e = 0; e < N; ++e)
        offsets[static_cast<std::size_t>(e) + 1] =
            offsets[static_cast<std::size_t>(e)] + static_cast<index_t>(rows_of[static_cast<std::size_t>(e)].size());
      CHECK(g_offsets.download() == offsets);
      auto got_rows = g_rows.download();
      got_rows.resize(rows.size());
      CHECK(got_rows == rows);
      CHECK(g_position.download() == position);
      CHECK_PARITY(g_out.download(), out, tolerance<T>());
      auto got_dy = g_dy.download();
      got_dy.resize(dy.size());
      CHECK_PARITY(got_dy, dy, tolerance<T>());
      CHECK_PARITY(g_dgate.download(), dgate, tolerance<T>());
      CHECK_PARITY(g_dp.download(), dp, tolerance<T>());
      CHECK_PARITY(g_ds.download(), ds, tolerance<T>());
    }
  }
}

TEST_CASE("cuda host: device permutation offsets and kept-row bound and launch grid", "[cuda][host]") {
  const std::vector<index_t> load{5, 0, 9, 3};
  std::vector<index_t> offsets(5);
  sh::kept_row_offsets(load.data(), 4, 4, offsets.data());  // capacity 4
  CHECK(offsets == std::vector<index_t>{0, 4, 4, 8, 11});
  sh::kept_row_offsets(load.data(), 4, 100, offsets.data());  // dropless
  CHECK(offsets == std::vector<index_t>{0, 5, 5, 14, 17});
  CHECK(sh::max_kept_rows(10, 2, 4, 20) == 20);  // n·a
  CHECK(sh::max_kept_rows(10, 2, 4, 3) == 12);   // N·capacity
  CHECK(sh::max_kept_rows(10, 3, 8, 50) == 30);  // capacity above n: n·a
  CHECK(sh::max_kept_rows(100, 1, 2, 500) == 100);
  // the flattened row-tile grid covers every group's tiles for any split of the rows
  for (const auto& rows : {kSegmentRows, std::vector<index_t>{64, 64, 64}, std::vector<index_t>{1, 1, 1, 1, 1}}) {
    const auto off = segment_offsets(rows);
    index_t grid[3];
    sh::grouped_gemm_grid<false>(static_cast<index_t>(rows.size()), 0, 10, off.back(), grid);
    index_t tiles = 0;
    for (const auto r : rows) tiles += (r + 63) / 64;
    CHECK(tiles <= grid[1]);
  }
  CHECK(sh::is_finite(1.0));
  CHECK(sh::is_finite(-1e308));
  CHECK_FALSE(sh::is_finite(std::numeric_limits<double>::infinity()));
  CHECK_FALSE(sh::is_finite(-std::numeric_limits<double>::infinity()));
  CHECK_FALSE(sh::is_finite(std::numeric_limits<double>::quiet_NaN()));
}
