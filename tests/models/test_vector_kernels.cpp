// The per-ISA kernels of the CPU trainer (models/cpu/vector_kernels.hpp): accuracy of the float
// polynomials against libm in double, bit-identical results across the AVX-512 / AVX2 / baseline
// builds, and the float kernels against the double kernels (libm, the loops of the gradient
// checks) and against the shared row kernels that the CUDA backend runs.
#include "muelab/models/cpu/vector_kernels.hpp"
#include "muelab/models/shared/kernels.hpp"
#include "muelab/sim/counter_rng.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

namespace vk = muelab::models::cpu::vk;

namespace {

/// Distance in units in the last place (float) between a float and the exact value.
double ulps(float got, double exact) {
  const double spacing = std::ldexp(1.0, std::ilogb(static_cast<float>(exact)) - 23);
  return std::abs(static_cast<double>(got) - exact) / spacing;
}

std::vector<double> normals(std::uint64_t seed, std::size_t n, double scale) {
  std::vector<double> v(n);
  muelab::sim::CounterRng(seed, 1).fill_normal(v, 0, 0, 0);
  for (auto& x : v) x *= scale;
  return v;
}

template <class S>
std::vector<S> cast(const std::vector<double>& v) {
  return {v.begin(), v.end()};
}

/// Runs `body` under every ISA build this CPU supports and restores the default.
template <class Body>
void for_each_isa(Body body) {
  const auto best = vk::active_isa();
  for (const auto isa : {vk::Isa::baseline, vk::Isa::avx2, vk::Isa::avx512})
    if (vk::isa_supported(isa)) {
      vk::force_isa(isa);
      body(isa);
    }
  vk::force_isa(best);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("vector kernels: fast_exp within 2 ulp of exp on [-87, 88]", "[models][vk]") {
  double worst = 0.0;
  for (int i = 0; i <= 200000; ++i) {
    const float x = -87.0f + 175.0f * static_cast<float>(i) / 200000.0f;
    worst = std::max(worst, ulps(vk::fast_exp(x), std::exp(static_cast<double>(x))));
  }
  std::printf("fast_exp: worst error %.2f ulp over 200001 points\n", worst);
  CHECK(worst <= 2.0);
  CHECK(vk::fast_exp(0.0f) == 1.0f);
  CHECK(std::isnan(vk::fast_exp(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("vector kernels: fast_erf within 5e-7 of erf on [-6, 6]", "[models][vk]") {
  double worst = 0.0;
  for (int i = 0; i <= 120000; ++i) {
    const float x = -6.0f + 12.0f * static_cast<float>(i) / 120000.0f;
    worst = std::max(worst, std::abs(static_cast<double>(vk::fast_erf(x)) - std::erf(static_cast<double>(x))));
  }
  std::printf("fast_erf: worst absolute error %.3g over 120001 points\n", worst);
  CHECK(worst <= 5e-7);  // the rational approximation's own error: 4.2e-7 measured
  CHECK(vk::fast_erf(0.0f) == 0.0f);
  CHECK(vk::fast_erf(-1.0f) == -vk::fast_erf(1.0f));
}

TEST_CASE("vector kernels: activations, float against double, same bits on every ISA build", "[models][vk]") {
  const std::uint64_t seed = 11;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const auto zd = normals(seed, 1003, 2.5), ud = normals(seed + 1, 1003, 1.0), gd = normals(seed + 2, 1003, 1.0);
  const auto n = static_cast<vk::index_t>(zd.size());
  std::vector<double> act_d(zd.size()), dz_d(zd.size()), dzg_d(zd.size()), dzu_d(zd.size()), glu_d(zd.size());
  vk::gelu_forward(zd.data(), act_d.data(), n);
  vk::gelu_backward(zd.data(), gd.data(), dz_d.data(), n);
  vk::swiglu_forward(zd.data(), ud.data(), glu_d.data(), n);
  vk::swiglu_backward(zd.data(), ud.data(), gd.data(), dzg_d.data(), dzu_d.data(), n);
  for (std::size_t i = 0; i < zd.size(); ++i) {  // the double loops are the shared kernels' formulas
    REQUIRE(act_d[i] == Approx(muelab::models::shared::gelu(zd[i])).epsilon(1e-14));
    REQUIRE(dz_d[i] == Approx(gd[i] * muelab::models::shared::gelu_derivative(zd[i])).epsilon(1e-13).margin(1e-300));
  }
  const auto z = cast<float>(zd), u = cast<float>(ud), g = cast<float>(gd);
  std::vector<std::vector<float>> outputs_by_isa;
  for_each_isa([&](vk::Isa isa) {
    std::vector<float> act(z.size()), dz(z.size()), glu(z.size()), dzg(z.size()), dzu(z.size());
    vk::gelu_forward(z.data(), act.data(), n);
    vk::gelu_backward(z.data(), g.data(), dz.data(), n);
    vk::swiglu_forward(z.data(), u.data(), glu.data(), n);
    vk::swiglu_backward(z.data(), u.data(), g.data(), dzg.data(), dzu.data(), n);
    double worst = 0.0;
    for (std::size_t i = 0; i < z.size(); ++i)  // float rounding of inputs and polynomials: ~1e-6 relative
      for (const auto& [f, d] : {std::pair{act[i], act_d[i]}, std::pair{dz[i], dz_d[i]}, std::pair{glu[i], glu_d[i]},
                                 std::pair{dzg[i], dzg_d[i]}, std::pair{dzu[i], dzu_d[i]}})
        worst = std::max(worst, std::abs(static_cast<double>(f) - d) / (1.0 + std::abs(d)));
    std::printf("activations, %s build: worst |float - double| / (1 + |double|) = %.3g\n", vk::isa_name(isa).c_str(), worst);
    CHECK(worst < 2e-6);
    std::vector<float> all = act;
    for (const auto* part : {&dz, &glu, &dzg, &dzu}) all.insert(all.end(), part->begin(), part->end());
    outputs_by_isa.push_back(all);
  });
  for (const auto& o : outputs_by_isa) CHECK(same_bits(o, outputs_by_isa.front()));
}

TEST_CASE("vector kernels: attention head, float against double, same bits on every ISA build", "[models][vk]") {
  const std::uint64_t seed = 12;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  // One head of a model of width d (q, k, v at offsets 0, d, 2d of a row). T = 37 and 40 with d_head = 12
  // take both key-loop paths of the row-at-a-time kernels (T % 8). T = 64 takes the four-rows-at-a-time
  // kernels (T a whole number of 64-byte vectors, d_head of 16-, 32- or 64-byte ones): d_head = 16 and 8.
  struct Case {
    vk::index_t T, dh, d;
  };
  const auto shape_case = GENERATE(Case{37, 12, 24}, Case{40, 12, 24}, Case{64, 16, 32}, Case{64, 8, 24});
  const vk::index_t T = shape_case.T, dh = shape_case.dh, d = shape_case.d;
  const vk::index_t ld = 3 * d, ld_o = d;
  const auto qkv_d = normals(seed, static_cast<std::size_t>(T * ld), 1.0);
  const auto dout_d = normals(seed + 1, static_cast<std::size_t>(T * ld_o), 1.0);
  const vk::HeadShape shape{T, dh, ld, ld_o};
  const double scale = 1.0 / static_cast<double>(dh) * 4.0;
  // double: the kernels against the causal softmax attention written out directly
  std::vector<double> o_d(static_cast<std::size_t>(T * ld_o)), p_d(static_cast<std::size_t>(T * T));
  std::vector<double> dqkv_d(static_cast<std::size_t>(T * ld), 0.0);
  vk::attention_head_forward(qkv_d.data(), qkv_d.data() + d, qkv_d.data() + 2 * d, o_d.data(), p_d.data(), shape,
                             scale);
  vk::attention_head_backward(qkv_d.data(), qkv_d.data() + d, qkv_d.data() + 2 * d, dout_d.data(), p_d.data(),
                              dqkv_d.data(), dqkv_d.data() + d, dqkv_d.data() + 2 * d, shape, scale);
  for (vk::index_t i = 0; i < T; ++i) {
    std::vector<double> s(static_cast<std::size_t>(i + 1));
    for (vk::index_t j = 0; j <= i; ++j) {
      double dot = 0.0;
      for (vk::index_t c = 0; c < dh; ++c)
        dot += qkv_d[static_cast<std::size_t>(i * ld + c)] * qkv_d[static_cast<std::size_t>(j * ld + d + c)];
      s[static_cast<std::size_t>(j)] = scale * dot;
    }
    muelab::models::shared::softmax_row(s.data(), i + 1, s.data());
    for (vk::index_t j = 0; j < T; ++j)
      REQUIRE(p_d[static_cast<std::size_t>(i * T + j)] == Approx(j <= i ? s[static_cast<std::size_t>(j)] : 0.0).margin(1e-15));
  }
  // backward against central differences of L = Σ dout ⊙ o in q, k and v (double)
  const auto loss = [&](const std::vector<double>& x) {
    std::vector<double> o(static_cast<std::size_t>(T * ld_o)), p(static_cast<std::size_t>(T * T));
    vk::attention_head_forward(x.data(), x.data() + d, x.data() + 2 * d, o.data(), p.data(), shape, scale);
    double l = 0.0;
    for (vk::index_t i = 0; i < T; ++i)
      for (vk::index_t c = 0; c < dh; ++c) l += dout_d[static_cast<std::size_t>(i * ld_o + c)] * o[static_cast<std::size_t>(i * ld_o + c)];
    return l;
  };
  for (const vk::index_t index : {vk::index_t{0}, 5 * ld + 3, 20 * ld + d + 7, 36 * ld + 2 * d + 11, 11 * ld + 2 * d}) {
    auto plus = qkv_d, minus = qkv_d;
    const double h = 1e-6;
    plus[static_cast<std::size_t>(index)] += h;
    minus[static_cast<std::size_t>(index)] -= h;
    CHECK(dqkv_d[static_cast<std::size_t>(index)] == Approx((loss(plus) - loss(minus)) / (2 * h)).epsilon(1e-6).margin(1e-9));
  }
  // float on every build: close to double, identical bits across builds
  const auto qkv = cast<float>(qkv_d), dout = cast<float>(dout_d);
  std::vector<std::vector<float>> outputs_by_isa;
  for_each_isa([&](vk::Isa isa) {
    std::vector<float> o(o_d.size()), p(p_d.size()), dqkv(dqkv_d.size(), 0.0f);
    vk::attention_head_forward(qkv.data(), qkv.data() + d, qkv.data() + 2 * d, o.data(), p.data(), shape,
                               static_cast<float>(scale));
    vk::attention_head_backward(qkv.data(), qkv.data() + d, qkv.data() + 2 * d, dout.data(), p.data(), dqkv.data(),
                                dqkv.data() + d, dqkv.data() + 2 * d, shape, static_cast<float>(scale));
    double worst = 0.0;
    for (vk::index_t i = 0; i < T; ++i)
      for (vk::index_t c = 0; c < dh; ++c) {
        const auto oi = static_cast<std::size_t>(i * ld_o + c);
        worst = std::max(worst, std::abs(static_cast<double>(o[oi]) - o_d[oi]));
        for (const vk::index_t part : {vk::index_t{0}, d, 2 * d}) {
          const auto di = static_cast<std::size_t>(i * ld + part + c);
          worst = std::max(worst, std::abs(static_cast<double>(dqkv[di]) - dqkv_d[di]));
        }
      }
    std::printf("attention head, %s build: worst |float - double| = %.3g\n", vk::isa_name(isa).c_str(), worst);
    CHECK(worst < 1e-5);  // O(1) values, sums of ≤ 37·12 float products
    std::vector<float> all = o;
    all.insert(all.end(), p.begin(), p.end());
    all.insert(all.end(), dqkv.begin(), dqkv.end());
    outputs_by_isa.push_back(all);
  });
  for (const auto& o : outputs_by_isa) CHECK(same_bits(o, outputs_by_isa.front()));
}

namespace {

/// One head of width d = 32 at T = 64 (the four-rows-at-a-time kernels) and at T = 60 (not a whole
/// number of vectors: the row-at-a-time kernels). Causal rows i < 60 see the same inputs in both, so
/// the outputs there must be equal if both kernels add the same products in the same order. The
/// upstream gradient of rows 60–63 is zero, so they add only zeros to dk and dv of rows < 60.
template <class S>
void check_four_rows_equal_row_kernel(vk::index_t dh, std::uint64_t seed) {
  const vk::index_t d = 32, ld = 3 * d, ld_o = d, T = 64, T_row = 60;
  const auto qkv = cast<S>(normals(seed, static_cast<std::size_t>(T * ld), 1.0));
  auto dout = cast<S>(normals(seed + 1, static_cast<std::size_t>(T * ld_o), 1.0));
  std::fill(dout.begin() + T_row * ld_o, dout.end(), S(0));
  const S scale = S(1) / std::sqrt(static_cast<S>(dh));
  struct Out {
    std::vector<S> o, p, dqkv;
  };
  const auto run = [&](vk::index_t t) {
    Out r{std::vector<S>(static_cast<std::size_t>(t * ld_o)), std::vector<S>(static_cast<std::size_t>(t * t)),
          std::vector<S>(static_cast<std::size_t>(t * ld), S(0))};
    const vk::HeadShape shape{t, dh, ld, ld_o};
    vk::attention_head_forward(qkv.data(), qkv.data() + d, qkv.data() + 2 * d, r.o.data(), r.p.data(), shape, scale);
    vk::attention_head_backward(qkv.data(), qkv.data() + d, qkv.data() + 2 * d, dout.data(), r.p.data(), r.dqkv.data(),
                                r.dqkv.data() + d, r.dqkv.data() + 2 * d, shape, scale);
    return r;
  };
  const Out wide = run(T), row = run(T_row);
  std::size_t unequal = 0;
  for (vk::index_t i = 0; i < T_row; ++i) {
    for (vk::index_t c = 0; c < dh; ++c) {
      unequal += wide.o[static_cast<std::size_t>(i * ld_o + c)] != row.o[static_cast<std::size_t>(i * ld_o + c)];
      for (const vk::index_t part : {vk::index_t{0}, d, 2 * d}) {
        const auto at = static_cast<std::size_t>(i * ld + part + c);
        unequal += wide.dqkv[at] != row.dqkv[at];
      }
    }
    for (vk::index_t j = 0; j < T_row; ++j)
      unequal += wide.p[static_cast<std::size_t>(i * T + j)] != row.p[static_cast<std::size_t>(i * T_row + j)];
  }
  CHECK(unequal == 0);
}

}  // namespace

TEST_CASE("vector kernels: the four-rows attention kernels equal the row kernels exactly", "[models][vk]") {
  const std::uint64_t seed = 14;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  for (const vk::index_t dh : {vk::index_t{8}, vk::index_t{16}, vk::index_t{32}}) {
    INFO("d_head " << dh);
    for_each_isa([&](vk::Isa isa) {
      INFO(vk::isa_name(isa) << " build, float");
      check_four_rows_equal_row_kernel<float>(dh, seed);
    });
    INFO("double");
    check_four_rows_equal_row_kernel<double>(dh, seed);
  }
}

TEST_CASE("vector kernels: cross-entropy rows against the shared row kernel", "[models][vk]") {
  const std::uint64_t seed = 13;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  const vk::index_t rows = 9, vocab = 96;
  const auto logits_d = normals(seed, static_cast<std::size_t>(rows * vocab), 3.0);
  std::vector<std::int32_t> targets(static_cast<std::size_t>(rows));
  for (vk::index_t r = 0; r < rows; ++r) targets[static_cast<std::size_t>(r)] = static_cast<std::int32_t>((r * 37) % vocab);
  std::vector<double> probs_d(logits_d.size()), probs_ref(logits_d.size());
  const double sum_d = vk::cross_entropy_rows(logits_d.data(), rows, vocab, targets.data(), probs_d.data());
  double sum_ref = 0.0;
  for (vk::index_t r = 0; r < rows; ++r)
    sum_ref += muelab::models::shared::cross_entropy_row(logits_d.data() + r * vocab, vocab, targets[static_cast<std::size_t>(r)],
                                                         probs_ref.data() + r * vocab);
  CHECK(sum_d == Approx(sum_ref).epsilon(1e-14));
  const auto logits = cast<float>(logits_d);
  std::vector<double> sums;
  for_each_isa([&](vk::Isa) {
    std::vector<float> probs(logits.size());
    sums.push_back(vk::cross_entropy_rows(logits.data(), rows, vocab, targets.data(), probs.data()));
  });
  for (const double s : sums) {
    CHECK(s == sums.front());
    CHECK(s == Approx(sum_ref).epsilon(1e-6));
  }
}

TEST_CASE("vector kernels: LayerNorm rows and the Adam update give the shared kernels' bits", "[models][vk]") {
  const std::uint64_t seed = 14;
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  namespace sh = muelab::models::shared;
  const vk::index_t rows = 7, d = 40;
  const auto x = cast<float>(normals(seed, static_cast<std::size_t>(rows * d), 2.0));
  const auto du = cast<float>(normals(seed + 1, static_cast<std::size_t>(rows * d), 1.0));
  const auto gain = cast<float>(normals(seed + 2, static_cast<std::size_t>(d), 1.0));
  std::vector<float> hat_ref(x.size()), u_ref(x.size()), rstd_ref(static_cast<std::size_t>(rows)), dx_ref(x.size());
  for (vk::index_t r = 0; r < rows; ++r) {
    rstd_ref[static_cast<std::size_t>(r)] =
        sh::layer_norm_row_forward(x.data() + r * d, gain.data(), 1.5f, 1e-5f, d, hat_ref.data() + r * d, u_ref.data() + r * d);
    sh::layer_norm_row_backward(du.data() + r * d, hat_ref.data() + r * d, rstd_ref[static_cast<std::size_t>(r)], gain.data(),
                                1.5f, d, dx_ref.data() + r * d, false);
  }
  const auto theta0 = cast<float>(normals(seed + 3, 10001, 0.1)), grad = cast<float>(normals(seed + 4, 10001, 1.0));
  const auto m0 = cast<float>(normals(seed + 5, 10001, 0.1));
  auto v0 = cast<float>(normals(seed + 6, 10001, 0.1));
  for (auto& v : v0) v = v * v;
  const sh::AdamStep h{1e-2, 0.1, 1e-8, 0.9, 0.95, 1.0 - std::pow(0.9, 3.0), 1.0 - std::pow(0.95, 3.0), true};
  auto theta_ref = theta0, m_ref = m0, v_ref = v0;
  double sum_ref = 0.0;
  for (std::size_t i = 0; i < theta_ref.size(); ++i) {
    const double delta = sh::adam_element(theta_ref[i], m_ref[i], v_ref[i], grad[i], h);
    sum_ref += delta * delta;
  }
  for_each_isa([&](vk::Isa isa) {
    INFO("build " << vk::isa_name(isa));
    std::vector<float> hat(x.size()), u(x.size()), rstd(static_cast<std::size_t>(rows)), dx(x.size());
    vk::layer_norm_rows_forward(x.data(), gain.data(), 1.5f, 1e-5f, rows, d, hat.data(), rstd.data(), u.data());
    vk::layer_norm_rows_backward(du.data(), hat.data(), rstd.data(), gain.data(), 1.5f, rows, d, dx.data());
    CHECK(same_bits(hat, hat_ref));
    CHECK(same_bits(u, u_ref));
    CHECK(same_bits(rstd, rstd_ref));
    CHECK(same_bits(dx, dx_ref));
    auto theta = theta0, m = m0, v = v0;
    const double sum = vk::adam_update(theta.data(), m.data(), v.data(), grad.data(), static_cast<vk::index_t>(theta.size()), h);
    CHECK(same_bits(theta, theta_ref));
    CHECK(same_bits(m, m_ref));
    CHECK(same_bits(v, v_ref));
    CHECK(sum == sum_ref);
  });
}
