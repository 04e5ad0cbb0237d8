// One kernel body, two backends: the elementwise and per-row math of the toy MoE transformer
// (docs/theory.md §2–§6) written once as __host__ __device__ functions. The CPU reference backend
// (models/cpu) calls them in its loops and the CUDA backend (models/cuda) calls them from one
// thread (elementwise) or one thread per row (per-row), so the CPU tests exercise the very
// arithmetic the GPU runs. Header-only, no Eigen, no std containers: plain pointers and lengths.
// Compiled as C++20 by the host compiler and as C++17 by nvcc.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define MUELAB_HD __host__ __device__
#else
#define MUELAB_HD
#endif

namespace muelab::models::shared {

using index_t = std::int64_t;

// ---- activations (docs/theory.md §2: FFN units) -----------------------------------------------------

/// GELU with the exact erf form: z·Φ(z).
template <class S>
MUELAB_HD inline S gelu(S z) {
  return S(0.5) * z * (S(1) + std::erf(z * S(0.70710678118654752440)));
}
/// d/dz [z·Φ(z)] = Φ(z) + z·φ(z).
template <class S>
MUELAB_HD inline S gelu_derivative(S z) {
  const S cdf = S(0.5) * (S(1) + std::erf(z * S(0.70710678118654752440)));
  const S pdf = std::exp(S(-0.5) * z * z) * S(0.39894228040143267794);  // 1/√(2π)
  return cdf + z * pdf;
}
template <class S>
MUELAB_HD inline S sigmoid(S z) {
  return S(1) / (S(1) + std::exp(-z));
}
/// SiLU z·σ(z) (the gate of SwiGLU).
template <class S>
MUELAB_HD inline S silu(S z) {
  return z * sigmoid(z);
}
/// d/dz [z·σ(z)] = σ(z)·(1 + z·(1 − σ(z))).
template <class S>
MUELAB_HD inline S silu_derivative(S z) {
  const S s = sigmoid(z);
  return s * (S(1) + z * (S(1) - s));
}

// ---- LayerNorm without bias, one row (docs/theory.md §2) ------------------------------------------------

/// u = m·g ⊙ (x − μ)/√(var + eps); writes hat = (x − μ)·rstd and u, returns rstd.
/// Sums run left to right in S, so a row gives the same bits on every backend.
template <class S>
MUELAB_HD inline S layer_norm_row_forward(const S* x, const S* gain, S multiplier, S eps, index_t d, S* hat, S* u) {
  S sum(0);
  for (index_t k = 0; k < d; ++k) sum += x[k];
  const S mean = sum / static_cast<S>(d);
  S sq(0);
  for (index_t k = 0; k < d; ++k) sq += (x[k] - mean) * (x[k] - mean);
  const S rstd = S(1) / std::sqrt(sq / static_cast<S>(d) + eps);
  for (index_t k = 0; k < d; ++k) {
    hat[k] = (x[k] - mean) * rstd;
    u[k] = multiplier * (hat[k] * gain[k]);
  }
  return rstd;
}

/// dx = rstd·(dĥ − mean(dĥ) − ĥ·mean(dĥ⊙ĥ)) with dĥ = m·du ⊙ g. `accumulate`: dx += instead of =.
/// (The gain gradient m·Σ_rows du⊙ĥ is a column sum, done by the caller.)
template <class S>
MUELAB_HD inline void layer_norm_row_backward(const S* du, const S* hat, S rstd, const S* gain, S multiplier, index_t d,
                                              S* dx, bool accumulate) {
  S sum_dhat(0), sum_dhat_hat(0);
  for (index_t k = 0; k < d; ++k) {
    const S dhat = multiplier * (du[k] * gain[k]);
    sum_dhat += dhat;
    sum_dhat_hat += dhat * hat[k];
  }
  const S mean_dhat = sum_dhat / static_cast<S>(d);
  const S mean_dhat_hat = sum_dhat_hat / static_cast<S>(d);
  for (index_t k = 0; k < d; ++k) {
    const S dhat = multiplier * (du[k] * gain[k]);
    const S v = rstd * (dhat - mean_dhat - hat[k] * mean_dhat_hat);
    dx[k] = accumulate ? dx[k] + v : v;
  }
}

// ---- softmax rows (router §5, causal attention §2, loss) ---------------------------------------------

/// out[0..count) = softmax(scale·in[0..count)) (in and out may alias); returns the normalizer Σ exp(·−max).
template <class S>
MUELAB_HD inline S softmax_row(const S* in, index_t count, S* out) {
  S mx = in[0];
  for (index_t k = 1; k < count; ++k) mx = in[k] > mx ? in[k] : mx;
  S total(0);
  for (index_t k = 0; k < count; ++k) {
    out[k] = std::exp(in[k] - mx);
    total += out[k];
  }
  for (index_t k = 0; k < count; ++k) out[k] /= total;
  return total;
}

/// Softmax backward: ds = scale·p ⊙ (dp − Σ dp⊙p) over `count` entries (ds may alias dp).
template <class S>
MUELAB_HD inline void softmax_row_backward(const S* p, const S* dp, index_t count, S scale, S* ds) {
  S dot(0);
  for (index_t k = 0; k < count; ++k) dot += dp[k] * p[k];
  for (index_t k = 0; k < count; ++k) ds[k] = scale * (p[k] * (dp[k] - dot));
}

/// Cross-entropy of one row: probs = softmax(logits), returns log Σ exp(l − max) + max − l_target.
template <class S>
MUELAB_HD inline S cross_entropy_row(const S* logits, index_t vocab, index_t target, S* probs) {
  S mx = logits[0];
  for (index_t k = 1; k < vocab; ++k) mx = logits[k] > mx ? logits[k] : mx;
  const S total = softmax_row(logits, vocab, probs);
  return std::log(total) + mx - logits[target];
}

// ---- MoE routing (docs/theory.md §5, §6) --------------------------------------------------------------------

/// Top-a selection on the key p_e + b_e (the balance bias steers selection only, §6), per_group
/// experts inside each of `groups` contiguous groups. Ties go to the lower expert index; within a
/// group the chosen experts come out in decreasing key order (exactly what std::partial_sort with
/// that total order gives). choice[0..groups·per_group) receives expert ids.
/// The selection key of expert e: p_e + b_e in double.
template <class S>
MUELAB_HD inline double route_key(const S* p, const double* bias, index_t e) {
  return static_cast<double>(p[e]) + bias[e];
}

template <class S>
MUELAB_HD inline void top_a_row(const S* p, const double* bias, index_t n_experts, index_t groups, index_t per_group,
                                index_t* choice) {
  const index_t group_size = n_experts / groups;
  for (index_t g = 0; g < groups; ++g) {
    const index_t begin = g * group_size, end = (g + 1) * group_size;
    index_t* out = choice + g * per_group;
    bool finite = true;
    for (index_t e = begin; e < end; ++e) finite = finite && route_key(p, bias, e) == route_key(p, bias, e);
    if (finite) {
      // One pass in index order, keeping out[0..filled) sorted by (key descending, index ascending): an
      // expert enters when it beats the current last (strictly: an equal key has a higher index), and
      // goes after every kept key ≥ its own. O(group size) comparisons plus the few insertions, instead
      // of a scan of the group per pick (which cost a third of a step at a = 16 of N = 64).
      index_t filled = 0;
      for (index_t e = begin; e < end; ++e) {
        const double key = route_key(p, bias, e);
        if (filled == per_group) {
          if (!(key > route_key(p, bias, out[filled - 1]))) continue;
          --filled;
        }
        index_t pos = filled;
        while (pos > 0 && route_key(p, bias, out[pos - 1]) < key) {
          out[pos] = out[pos - 1];
          --pos;
        }
        out[pos] = e;
        ++filled;
      }
      continue;
    }
    // A NaN key (a diverged router): the exclusion scan, pick by pick, as it has always been done.
    for (index_t j = 0; j < per_group; ++j) {
      index_t best = -1;
      double best_key = 0.0;
      for (index_t e = begin; e < end; ++e) {
        bool taken = false;
        for (index_t q = 0; q < j; ++q) taken = taken || out[q] == e;
        if (taken) continue;
        const double key = route_key(p, bias, e);
        if (best < 0 || key > best_key) {  // strict: an equal key keeps the lower index
          best = e;
          best_key = key;
        }
      }
      out[j] = best;
    }
  }
}

/// Gates π_j of the a chosen experts: p_j / Σ_active p ("active-set" normalization) or raw p_j.
template <class S>
MUELAB_HD inline void gates_row(const S* p, const index_t* choice, index_t a, bool normalize, S* gate) {
  S total(0);
  for (index_t j = 0; j < a; ++j) total += p[choice[j]];
  for (index_t j = 0; j < a; ++j) gate[j] = normalize ? p[choice[j]] / total : p[choice[j]];
}

/// Backward of gates_row, added into dp (a row of N): normalized π_j = p_j / Σ_active p gives
/// dp_j += (dπ_j − Σ_k dπ_k π_k) / Σ_active p; raw gates give dp_j += dπ_j.
template <class S>
MUELAB_HD inline void gates_row_backward(const S* p, const index_t* choice, const S* gate, const S* dgate, index_t a,
                                         bool normalize, S* dp) {
  if (!normalize) {
    for (index_t j = 0; j < a; ++j) dp[choice[j]] += dgate[j];
    return;
  }
  S total(0), dot(0);
  for (index_t j = 0; j < a; ++j) {
    total += p[choice[j]];
    dot += dgate[j] * gate[j];
  }
  for (index_t j = 0; j < a; ++j) dp[choice[j]] += (dgate[j] - dot) / total;
}

/// Finite (not ±∞, not NaN) by comparisons only: the same test in host and device code, fast-math or not.
MUELAB_HD inline bool is_finite(double x) {
  return x >= -1.7976931348623157e308 && x <= 1.7976931348623157e308;
}

// ---- token permutation by expert (§5): sizes known only on the device ------------------------------

/// Upper bound of the rows kept after the capacity limit (sizes every permuted buffer without
/// reading the counts back): each token picks an expert at most once, so an expert keeps at most
/// min(capacity, n) rows, and all experts together at most n·a.
MUELAB_HD inline index_t max_kept_rows(index_t n, index_t a, index_t n_experts, index_t capacity) {
  const index_t per_expert = capacity < n ? capacity : n;
  const index_t by_experts = n_experts * per_expert;
  return n * a < by_experts ? n * a : by_experts;
}

/// Exclusive scan of the kept rows per expert: offsets[0] = 0, offsets[e+1] = offsets[e] +
/// min(load_count[e], capacity). Expert e's permuted rows are [offsets[e], offsets[e+1]).
MUELAB_HD inline void kept_row_offsets(const index_t* load_count, index_t n_experts, index_t capacity,
                                       index_t* offsets) {
  offsets[0] = 0;
  for (index_t e = 0; e < n_experts; ++e)
    offsets[e + 1] = offsets[e] + (load_count[e] < capacity ? load_count[e] : capacity);
}

/// Load of an expert for the log and the balance bias: choices / tokens (dropped included).
MUELAB_HD inline double expert_load(index_t count, index_t n) {
  return static_cast<double>(count) / static_cast<double>(n);
}
/// f_i = count_i/(n·a), evaluated as (count_i/n)/a (the CPU's order).
MUELAB_HD inline double expert_load_fraction(index_t count, index_t n, index_t a) {
  return expert_load(count, n) / static_cast<double>(a);
}

// ---- auxiliary load-balancing loss (Switch style; docs/theory.md §6) -----------------------------------------
// aux = coef·N·Σ_i f_i·P_i with f_i = count_i/(n·a) held constant (no gradient through the top-a
// choice) and P_i = (1/n) Σ_t p̂_ti, p̂_t = p_t / Σ_e p_te (a no-op for the softmax router up to
// rounding; it matters for the sigmoid router).

/// Σ_k x_k, left to right (the normalizer of p̂; same order on every backend).
template <class S>
MUELAB_HD inline S row_sum(const S* x, index_t count) {
  S total(0);
  for (index_t k = 0; k < count; ++k) total += x[k];
  return total;
}

/// Σ_t p̂_te over the tokens in order for expert e: p̂ in S, summed in double. p is n × N and
/// row_total[t] = row_sum(p_t).
template <class S>
MUELAB_HD inline double normalized_probability_column_sum(const S* p, const S* row_total, index_t n, index_t n_experts,
                                                          index_t e) {
  double sum = 0.0;
  for (index_t t = 0; t < n; ++t) sum += static_cast<double>(p[t * n_experts + e] / row_total[t]);
  return sum;
}

/// aux = coef·N·Σ_i f_i·(column_sum_i / n), summed over experts in order.
MUELAB_HD inline double aux_balance_loss(const double* load_fraction, const double* column_sum, index_t n_experts,
                                         index_t n, double coef) {
  double sum = 0.0;
  for (index_t e = 0; e < n_experts; ++e) sum += load_fraction[e] * column_sum[e] / static_cast<double>(n);
  return coef * static_cast<double>(n_experts) * sum;
}

/// Gradient of aux w.r.t. one token's router probabilities, added into dp: with w_e = coef·N·f_e/n,
/// ∂aux/∂p_e = (w_e − Σ_k w_k p̂_k) / Σ p (quotient rule of p̂ = p/Σp).
template <class S>
MUELAB_HD inline void aux_balance_row_backward(const S* p, S total, const double* load_fraction, index_t n_experts,
                                               index_t n, double coef, S* dp) {
  const double scale = coef * static_cast<double>(n_experts);
  S dot(0);
  for (index_t e = 0; e < n_experts; ++e)
    dot += static_cast<S>(scale * load_fraction[e] / static_cast<double>(n)) * p[e] / total;
  for (index_t e = 0; e < n_experts; ++e)
    dp[e] += (static_cast<S>(scale * load_fraction[e] / static_cast<double>(n)) - dot) / total;
}

/// Jiang's non-gradient balance bias (§6): b ← b − η_bias (load − a/N).
MUELAB_HD inline double balance_bias_update(double bias, double rate, double load, double kappa) {
  return bias - rate * (load - kappa);
}

// ---- optimizers (docs/theory.md §1–§4; per-group η, λ, ε, β from transfer()) -------------------------------

/// Per-step constants of Adam/AdamW for one group; correction_k = 1 − β_k^step.
struct AdamStep {
  double lr = 0.0, weight_decay = 0.0, eps = 0.0, beta1 = 0.0, beta2 = 0.0;
  double correction1 = 1.0, correction2 = 1.0;
  bool coupled = true;  ///< AdamW (θ ← θ(1 − ηλ) − η m̂/(√v̂ + ε)); false: Adam with L2 in the gradient
};

/// One Adam/AdamW element update in double; returns Δθ.
template <class S>
MUELAB_HD inline double adam_element(S& theta, S& m, S& v, S grad_in, const AdamStep& h) {
  const double th = static_cast<double>(theta);
  const double grad = static_cast<double>(grad_in) + (h.coupled ? 0.0 : h.weight_decay * th);
  const double mk = h.beta1 * static_cast<double>(m) + (1.0 - h.beta1) * grad;
  const double vk = h.beta2 * static_cast<double>(v) + (1.0 - h.beta2) * grad * grad;
  m = static_cast<S>(mk);
  v = static_cast<S>(vk);
  const double denom = std::sqrt(vk / h.correction2) + h.eps;
  const double decayed = h.coupled ? th * (1.0 - h.lr * h.weight_decay) : th;
  const double updated = decayed - h.lr * (mk / h.correction1) / denom;
  theta = static_cast<S>(updated);
  return updated - th;
}

/// One SGD-with-momentum element update (buf ← β1·buf + g + λθ; θ ← θ − η·buf); returns Δθ.
template <class S>
MUELAB_HD inline double sgd_element(S& theta, S& buf, S grad_in, double lr, double weight_decay, double momentum) {
  const double grad = static_cast<double>(grad_in) + weight_decay * static_cast<double>(theta);
  const double b = momentum * static_cast<double>(buf) + grad;
  buf = static_cast<S>(b);
  const double delta = -lr * b;
  theta = static_cast<S>(static_cast<double>(theta) + delta);
  return delta;
}

}  // namespace muelab::models::shared
