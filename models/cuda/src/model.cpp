// The CUDA model (see model.hpp): plain C++ that drives the launchers of kernels.hpp and cuBLAS.
// The order of operations mirrors models/cpu/src/model.cpp step for step (docs/theory.md §2–§6), so
// each stage has a CPU twin for the parity suite. Nothing here reads device memory except
// read_loss() and read_diagnostics() (and the test accessors value/grad/logits/balance_bias).
#include "muelab/models/cuda/model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace muelab::models::cuda {

namespace {
template <class T>
T sc(double v) {
  return static_cast<T>(v);
}
/// (Re)allocates, zeroed, only when the element count changes: the first step (or a new batch
/// size); every later step reuses the buffer, so a step makes no cudaMalloc/cudaFree.
template <class T>
void ensure(DeviceArray<T>& array, index_t count) {
  if (static_cast<index_t>(array.size()) == count) return;
  array = DeviceArray<T>(static_cast<std::size_t>(count));
  array.zero();
}

// Layout of the device diagnostics block (doubles): the host reads slots [kLoss, kCeLoss] every
// step and the whole block at logging steps, each time in ONE copy.
constexpr index_t kLoss = 0, kCeLoss = 1, kGradNorm = 2, kFirstNonfinite = 3, kStepOk = 4, kAux = 5;
}  // namespace

/// One feed-forward unit's activations (dense FFN, one shared expert; the routed experts' are
/// the permuted rows of the MoE cache).
template <class T>
struct UnitCache {
  DeviceArray<T> z_up, z_gate, act;
};

template <class T>
struct Model<T>::Impl {
  ParameterLayout layout;       ///< models/core: names, groups, shapes, per-block indices (built once)
  using Block = BlockLayout;    ///< one block's parameter indices
  /// Device tables of the routed experts' weight and gradient pointers (grouped GEMM operands);
  /// the parameter buffers never move, so they are built once.
  struct ExpertTables {
    DeviceArray<T*> up, gate, down, up_grad, gate_grad, down_grad;
  };
  struct Cache {
    DeviceArray<T> hat1, rstd1, u1, qkv, probs, heads, hat2, rstd2, u2;
    UnitCache<T> dense;
    // MoE
    DeviceArray<T> router_p, gate, row_total;
    DeviceArray<double> load_fraction, column_sum;  ///< aux loss: f_e and Σ_t p̂_te
    DeviceArray<index_t> choice, load_count, offsets, rows, slots, position;
    DeviceArray<T> xs, z_up, z_gate, act, ys;  ///< permuted rows: max_kept × d or × d_expert
    std::vector<UnitCache<T>> shared;
  };
  /// Buffers used inside one stage and reused by every layer (one stream: the stages run in order).
  struct Scratch {
    DeviceArray<T> x, attn_out, ffn_out, unit_y, scores;
    DeviceArray<T> dlogits, du, dx, df, du2, dattn, dheads, dqkv, dprobs, du1;
    DeviceArray<T> dy, dgate, dxs, dp, ds, dys, dxs_shared;
    DeviceArray<T> dact, dz_up, dz_gate;  ///< unit backward, the largest unit's size
  };
  Blas blas;
  std::vector<Block> blocks;
  std::vector<ExpertTables> experts;  ///< per MoE block
  int token_embedding = -1, position_embedding = -1, final_norm = -1, head = -1;
  std::vector<DeviceArray<double>> bias;  ///< per MoE block
  std::vector<Cache> caches;
  Scratch scratch;
  index_t batch = 0, n = 0;
  index_t capacity = 0;  ///< rows an expert keeps (n·a: dropless)
  index_t max_kept = 0;  ///< bound of the kept rows of a layer (shared::max_kept_rows): permuted buffer size
  DeviceArray<std::int32_t> tokens, targets;
  DeviceArray<T> final_hat, final_rstd, final_u, logits, probs;
  DeviceArray<double> row_loss, partials{256};
  // global gradient norm over the trainable parameters (pointer and size tables built once)
  DeviceArray<T*> grad_tensors;
  DeviceArray<index_t> grad_sizes;
  index_t grad_count = 0;
  DeviceArray<double> norm_partials, norm_per_tensor;
  // diagnostics block and its page-locked host copy
  DeviceArray<double> diagnostics;
  PinnedDoubles host;
  index_t rms_slot = 0, load_slot = 0;
};

template <class T>
Model<T>::Model(ModelSpec spec) : spec_(std::move(spec)), impl_(std::make_unique<Impl>()) {
  impl_->layout = make_parameter_layout(spec_);
  const auto& layout = impl_->layout;
  for (const auto& p : layout.parameters) {
    DeviceParameter<T> d;
    d.name = p.name;
    d.group = p.group;
    d.trainable = p.trainable;
    d.rows = p.rows;
    d.cols = p.cols;
    d.value = DeviceArray<T>(static_cast<std::size_t>(d.rows * d.cols));
    d.grad = DeviceArray<T>(static_cast<std::size_t>(d.rows * d.cols));
    d.grad.zero();
    parameters_.push_back(std::move(d));
  }
  const auto& m = spec_.model;
  auto& I = *impl_;
  I.token_embedding = layout.token_embedding;
  I.position_embedding = layout.position_embedding;
  I.final_norm = layout.final_norm;
  I.head = layout.head;
  const auto pointers = [&](const std::vector<int>& ids, bool grads) {
    std::vector<T*> table;
    for (const int i : ids) {
      auto& p = parameters_[static_cast<std::size_t>(i)];
      table.push_back(grads ? p.grad.data() : p.value.data());
    }
    return DeviceArray<T*>(table);
  };
  for (std::int64_t l = 0; l < m.n_layers; ++l) {
    const auto& b = layout.blocks[static_cast<std::size_t>(l)];
    if (m.is_moe()) {
      typename Impl::ExpertTables t;
      t.up = pointers(b.expert_up, false);
      t.gate = pointers(b.expert_gate, false);
      t.down = pointers(b.expert_down, false);
      t.up_grad = pointers(b.expert_up, true);
      t.gate_grad = pointers(b.expert_gate, true);
      t.down_grad = pointers(b.expert_down, true);
      I.experts.push_back(std::move(t));
    }
    I.blocks.push_back(b);
    I.bias.emplace_back(std::vector<double>(m.is_moe() ? static_cast<std::size_t>(m.n_experts) : 0U, 0.0));
  }
  // gradient-norm tables: the trainable parameters in parameter order (the CPU's order)
  std::vector<T*> grads;
  std::vector<index_t> sizes;
  for (auto& p : parameters_)
    if (p.trainable) {
      grads.push_back(p.grad.data());
      sizes.push_back(p.rows * p.cols);
    }
  I.grad_count = static_cast<index_t>(grads.size());
  I.grad_tensors = DeviceArray<T*>(grads);
  I.grad_sizes = DeviceArray<index_t>(sizes);
  I.norm_partials = DeviceArray<double>(static_cast<std::size_t>(kGlobalNormLanes * I.grad_count));
  I.norm_per_tensor = DeviceArray<double>(static_cast<std::size_t>(std::max<index_t>(I.grad_count, 1)));
  I.norm_per_tensor.zero();
  // diagnostics: [loss, ce, grad norm, first non-finite step, step ok, aux per layer, rms per layer, loads]
  const index_t L = m.n_layers;
  I.rms_slot = kAux + L;
  I.load_slot = kAux + 2 * L;
  const index_t slots = I.load_slot + (m.is_moe() ? L * m.n_experts : 0);
  std::vector<double> initial(static_cast<std::size_t>(slots), 0.0);
  initial[kGradNorm] = std::numeric_limits<double>::quiet_NaN();
  initial[kFirstNonfinite] = -1.0;
  initial[kStepOk] = 1.0;
  I.diagnostics = DeviceArray<double>(initial);
  I.host = PinnedDoubles(static_cast<std::size_t>(slots));
  for (std::size_t i = 0; i < parameters_.size(); ++i) {  // gains = 1, weights 0 until initialize()
    const auto& info = layout.parameters[i];
    parameters_[i].value.upload(std::vector<T>(static_cast<std::size_t>(info.rows * info.cols),
                                               info.group == ParameterGroup::norm ? T(1) : T(0)));
  }
}

template <class T>
Model<T>::~Model() = default;

template <class T>
void Model<T>::initialize(std::uint64_t seed) {
  for (std::size_t i = 0; i < parameters_.size(); ++i) {  // CounterRng(seed, "model" + parameter index)
    const auto values = initial_values(spec_, impl_->layout, i, seed);
    std::vector<T> cast(values.size());
    for (std::size_t k = 0; k < values.size(); ++k) cast[k] = static_cast<T>(values[k]);
    parameters_[i].value.upload(cast);
  }
  for (auto& bias : impl_->bias)
    if (bias.size() > 0) bias.upload(std::vector<double>(bias.size(), 0.0));
}

template <class T>
void Model<T>::load_from(const cpu::Model<T>& host) {
  const auto& params = host.parameters();
  if (params.size() != parameters_.size()) throw std::invalid_argument("load_from: models differ");
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto& v = params[i].value;
    parameters_[i].value.upload(std::vector<T>(v.data(), v.data() + v.size()));
  }
  auto& copy = const_cast<cpu::Model<T>&>(host);  // balance_bias() has no const overload
  for (std::size_t l = 0; l < impl_->bias.size(); ++l)
    if (impl_->bias[l].size() > 0) impl_->bias[l].upload(copy.balance_bias(l));
}

template <class T>
std::vector<double> Model<T>::balance_bias(std::size_t block) const {
  return impl_->bias.at(block).download();
}

template <class T>
std::vector<T> Model<T>::logits() const {
  return impl_->logits.download();
}

namespace {

template <class T>
struct UnitWeights {
  DeviceParameter<T>* up;
  DeviceParameter<T>* gate;  ///< null: GELU unit
  DeviceParameter<T>* down;
  T m_up, m_gate, m_down;
};

/// z_up = m_up·x·W_up; [z_gate = m_gate·x·W_gate; act = silu(z_gate)⊙z_up | act = gelu(z_up)]; y = m_down·act·W_down.
template <class T>
void unit_forward(Blas& blas, const UnitWeights<T>& w, const T* x, index_t rows, index_t d, index_t h, T* z_up, T* z_gate,
                  T* act, T* y) {
  blas.gemm(false, false, rows, h, d, w.m_up, x, d, w.up->value.data(), h, T(0), z_up, h);
  if (w.gate) {
    blas.gemm(false, false, rows, h, d, w.m_gate, x, d, w.gate->value.data(), h, T(0), z_gate, h);
    swiglu_forward(z_gate, z_up, rows * h, act);
  } else {
    gelu_forward(z_up, rows * h, act);
  }
  blas.gemm(false, false, rows, d, h, w.m_down, act, h, w.down->value.data(), d, T(0), y, d);
}

/// Scratch of a unit's backward (each at least rows × h).
template <class T>
struct UnitScratch {
  T* dact;
  T* dz_up;
  T* dz_gate;
};

/// Accumulates the unit's weight gradients and writes dx (rows × d).
template <class T>
void unit_backward(Blas& blas, const UnitWeights<T>& w, const T* x, const T* z_up, const T* z_gate, const T* act,
                   const T* dy, index_t rows, index_t d, index_t h, const UnitScratch<T>& s, T* dx) {
  auto* down = w.down;
  auto* up = w.up;
  blas.gemm(true, false, h, d, rows, w.m_down, act, h, dy, d, T(1), down->grad.data(), d);
  blas.gemm(false, true, rows, h, d, w.m_down, dy, d, down->value.data(), d, T(0), s.dact, h);
  if (w.gate) {
    auto* gate = w.gate;
    swiglu_backward(z_gate, z_up, s.dact, rows * h, s.dz_gate, s.dz_up);
    blas.gemm(true, false, d, h, rows, w.m_gate, x, d, s.dz_gate, h, T(1), gate->grad.data(), h);
    blas.gemm(false, true, rows, d, h, w.m_gate, s.dz_gate, h, gate->value.data(), h, T(0), dx, d);
    blas.gemm(false, true, rows, d, h, w.m_up, s.dz_up, h, up->value.data(), h, T(1), dx, d);
  } else {
    gelu_backward(z_up, s.dact, rows * h, s.dz_up);
    blas.gemm(false, true, rows, d, h, w.m_up, s.dz_up, h, up->value.data(), h, T(0), dx, d);
  }
  blas.gemm(true, false, d, h, rows, w.m_up, x, d, s.dz_up, h, T(1), up->grad.data(), h);
}

}  // namespace

template <class T>
void Model<T>::enqueue_forward(const std::vector<std::int32_t>& tokens, const std::vector<std::int32_t>& targets,
                               index_t batch) {
  auto& I = *impl_;
  auto& S = I.scratch;
  const auto& m = spec_.model;
  const index_t Tn = spec_.seq_len, d = m.d_model, H = spec_.n_heads(), dh = m.d_head, V = spec_.vocab_size;
  const index_t n = batch * Tn;
  if (static_cast<index_t>(tokens.size()) != n || static_cast<index_t>(targets.size()) != n)
    throw std::invalid_argument("forward: tokens and targets must hold batch × seq_len entries");
  const bool moe = m.is_moe();
  const index_t N = moe ? m.n_experts : 0, a = moe ? m.n_active : 0;
  const index_t L = m.n_layers;
  // ---- buffers: sized by the batch alone (never by the routing), allocated once --------------------
  I.batch = batch;
  I.n = n;
  I.capacity = spec_.options.capacity_factor > 0.0
                   ? static_cast<index_t>(std::ceil(spec_.options.capacity_factor * static_cast<double>(n * a) /
                                                    static_cast<double>(std::max<index_t>(N, 1))))
                   : n * a;
  I.max_kept = moe ? shared::max_kept_rows(n, a, N, I.capacity) : 0;
  const index_t h_unit = std::max({m.is_moe() ? I.max_kept * m.d_expert : n * m.d_ffn, n * (moe ? m.d_shared : 0)});
  ensure(I.tokens, n);
  ensure(I.targets, n);
  I.tokens.upload(tokens);
  I.targets.upload(targets);
  ensure(S.x, n * d);
  ensure(S.attn_out, n * d);
  ensure(S.ffn_out, n * d);
  ensure(S.unit_y, moe && m.n_shared > 0 ? n * d : 0);
  ensure(S.scores, n * N);
  ensure(S.dact, h_unit);
  ensure(S.dz_up, h_unit);
  ensure(S.dz_gate, m.has_gate() ? h_unit : 0);
  I.caches.resize(static_cast<std::size_t>(L));
  for (auto& c : I.caches) {
    ensure(c.hat1, n * d);
    ensure(c.rstd1, n);
    ensure(c.u1, n * d);
    ensure(c.qkv, n * 3 * d);
    ensure(c.probs, batch * H * Tn * Tn);
    ensure(c.heads, n * d);
    ensure(c.hat2, n * d);
    ensure(c.rstd2, n);
    ensure(c.u2, n * d);
    if (!moe) {
      ensure(c.dense.z_up, n * m.d_ffn);
      ensure(c.dense.z_gate, m.has_gate() ? n * m.d_ffn : 0);
      ensure(c.dense.act, n * m.d_ffn);
      continue;
    }
    const index_t h = m.d_expert;
    ensure(c.router_p, n * N);
    ensure(c.gate, n * a);
    ensure(c.choice, n * a);
    ensure(c.load_count, N);
    ensure(c.offsets, N + 1);
    ensure(c.rows, n * a);
    ensure(c.slots, n * a);
    ensure(c.position, n * a);
    ensure(c.xs, I.max_kept * d);
    ensure(c.z_up, I.max_kept * h);
    ensure(c.z_gate, m.has_gate() ? I.max_kept * h : 0);
    ensure(c.act, I.max_kept * h);
    ensure(c.ys, I.max_kept * d);
    const bool aux = spec_.options.aux_loss_coef > 0.0;
    ensure(c.row_total, aux ? n : 0);
    ensure(c.load_fraction, aux ? N : 0);
    ensure(c.column_sum, aux ? N : 0);
    c.shared.resize(static_cast<std::size_t>(m.n_shared));
    for (auto& u : c.shared) {
      ensure(u.z_up, n * m.d_shared);
      ensure(u.z_gate, m.has_gate() ? n * m.d_shared : 0);
      ensure(u.act, n * m.d_shared);
    }
  }
  ensure(I.final_hat, n * d);
  ensure(I.final_rstd, n);
  ensure(I.final_u, n * d);
  ensure(I.logits, n * V);
  ensure(I.probs, n * V);
  ensure(I.row_loss, n);
  double* diag = I.diagnostics.data();

  // ---- the forward pass (enqueued only) -----------------------------------------------------------
  const auto P = [&](int i) -> DeviceParameter<T>& { return parameters_[static_cast<std::size_t>(i)]; };
  const T m_norm = sc<T>(spec_.mult(ParameterGroup::norm));
  const T eps = sc<T>(spec_.options.norm_eps);
  const T residual = sc<T>(spec_.residual_multiplier);
  T* x = S.x.data();
  embedding_forward(P(I.token_embedding).value.data(), P(I.position_embedding).value.data(), I.tokens.data(), n, Tn, d,
                    sc<T>(spec_.mult(ParameterGroup::embedding)), x);
  for (std::size_t l = 0; l < I.blocks.size(); ++l) {
    const auto& bi = I.blocks[l];
    auto& c = I.caches[l];
    layer_norm_forward(x, P(bi.ln1).value.data(), m_norm, eps, n, d, c.hat1.data(), c.rstd1.data(), c.u1.data());
    // attention (§2): qkv, per sequence a strided batch over heads, causal softmax, P·V
    I.blas.gemm(false, false, n, 3 * d, d, sc<T>(spec_.mult(ParameterGroup::attn_qkv)), c.u1.data(), d,
                P(bi.qkv).value.data(), 3 * d, T(0), c.qkv.data(), 3 * d);
    const T scale = sc<T>(spec_.attention_logit_scale);
    for (index_t b = 0; b < batch; ++b) {
      const T* q = c.qkv.data() + b * Tn * 3 * d;
      I.blas.gemm_strided_batched(false, true, Tn, Tn, dh, scale, q, 3 * d, dh, q + d, 3 * d, dh, T(0),
                                  c.probs.data() + b * H * Tn * Tn, Tn, Tn * Tn, H);
    }
    causal_softmax(c.probs.data(), batch * H, Tn);
    for (index_t b = 0; b < batch; ++b) {
      const T* v = c.qkv.data() + b * Tn * 3 * d + 2 * d;
      I.blas.gemm_strided_batched(false, false, Tn, dh, Tn, T(1), c.probs.data() + b * H * Tn * Tn, Tn, Tn * Tn, v,
                                  3 * d, dh, T(0), c.heads.data() + b * Tn * d, d, dh, H);
    }
    I.blas.gemm(false, false, n, d, d, sc<T>(spec_.mult(ParameterGroup::attn_out)), c.heads.data(), d,
                P(bi.out).value.data(), d, T(0), S.attn_out.data(), d);
    axpy(residual, S.attn_out.data(), n * d, x);
    layer_norm_forward(x, P(bi.ln2).value.data(), m_norm, eps, n, d, c.hat2.data(), c.rstd2.data(), c.u2.data());
    T* ffn_out = S.ffn_out.data();
    if (!moe) {
      const index_t h = m.d_ffn;
      UnitWeights<T> w{&P(bi.up), bi.gate >= 0 ? &P(bi.gate) : nullptr, &P(bi.down),
                       sc<T>(spec_.mult(ParameterGroup::ffn_up)), sc<T>(spec_.mult(ParameterGroup::ffn_gate)),
                       sc<T>(spec_.mult(ParameterGroup::ffn_down))};
      unit_forward(I.blas, w, c.u2.data(), n, d, h, c.dense.z_up.data(), c.dense.z_gate.data(), c.dense.act.data(),
                   ffn_out);
    } else {
      // router (§5) → top-a on p + bias with gates (§6) → permutation by expert (on the device) →
      // grouped expert GEMMs over the device offsets → combine
      const index_t h = m.d_expert;
      const auto& E = I.experts[l];
      I.blas.gemm(false, false, n, N, d, sc<T>(spec_.mult(ParameterGroup::router)), c.u2.data(), d,
                  P(bi.router).value.data(), N, T(0), S.scores.data(), N);
      router_probabilities(S.scores.data(), n, N, m.router == theory::RouterKind::sigmoid, c.router_p.data());
      top_a_gates(c.router_p.data(), I.bias[l].data(), n, N, m.n_groups, a / m.n_groups, spec_.normalize_gates,
                  c.choice.data(), c.gate.data());
      permute_by_expert(c.choice.data(), n, a, N, I.capacity, c.load_count.data(), c.offsets.data(), c.rows.data(),
                        c.slots.data(), c.position.data());
      expert_loads(c.load_count.data(), n, N, diag + I.load_slot + static_cast<index_t>(l) * N);
      if (spec_.options.aux_loss_coef > 0.0)
        aux_balance_forward(c.router_p.data(), c.load_count.data(), n, N, a, spec_.options.aux_loss_coef,
                            c.row_total.data(), c.load_fraction.data(), c.column_sum.data(),
                            diag + kAux + static_cast<index_t>(l));
      const index_t* offsets = c.offsets.data();
      const index_t* kept = offsets + N;  // rows kept in all, on the device
      const index_t R = I.max_kept;
      gather_rows(c.u2.data(), c.rows.data(), kept, R, d, c.xs.data());
      grouped_gemm_rows(false, N, offsets, R, h, d, sc<T>(spec_.mult(ParameterGroup::expert_up)), c.xs.data(), d,
                        E.up.data(), h, T(0), c.z_up.data(), h);
      if (m.has_gate()) {
        grouped_gemm_rows(false, N, offsets, R, h, d, sc<T>(spec_.mult(ParameterGroup::expert_gate)), c.xs.data(), d,
                          E.gate.data(), h, T(0), c.z_gate.data(), h);
        swiglu_forward(c.z_gate.data(), c.z_up.data(), R * h, c.act.data());
      } else {
        gelu_forward(c.z_up.data(), R * h, c.act.data());
      }
      grouped_gemm_rows(false, N, offsets, R, d, h, sc<T>(spec_.mult(ParameterGroup::expert_down)), c.act.data(), h,
                        E.down.data(), d, T(0), c.ys.data(), d);
      combine(c.ys.data(), c.position.data(), c.choice.data(), c.gate.data(), sc<T>(spec_.route_scale_routed), true, n, a,
              d, ffn_out, false);
      for (std::int64_t s = 0; s < m.n_shared; ++s) {
        const auto us = static_cast<std::size_t>(s);
        auto& u = c.shared[us];
        UnitWeights<T> w{&P(bi.shared_up[us]), m.has_gate() ? &P(bi.shared_gate[us]) : nullptr, &P(bi.shared_down[us]),
                         sc<T>(spec_.mult(ParameterGroup::shared_up)), sc<T>(spec_.mult(ParameterGroup::shared_gate)),
                         sc<T>(spec_.mult(ParameterGroup::shared_down))};
        unit_forward(I.blas, w, c.u2.data(), n, d, m.d_shared, u.z_up.data(), u.z_gate.data(), u.act.data(),
                     S.unit_y.data());
        axpy(sc<T>(spec_.route_scale_shared), S.unit_y.data(), n * d, ffn_out);
      }
    }
    axpy(residual, ffn_out, n * d, x);
    root_mean_square(x, n * d, I.partials.data(), diag + I.rms_slot + static_cast<index_t>(l));
  }
  layer_norm_forward(x, P(I.final_norm).value.data(), m_norm, eps, n, d, I.final_hat.data(), I.final_rstd.data(),
                     I.final_u.data());
  I.blas.gemm(false, false, n, V, d, sc<T>(spec_.mult(ParameterGroup::head)), I.final_u.data(), d,
              P(I.head).value.data(), V, T(0), I.logits.data(), V);
  cross_entropy(I.logits.data(), I.targets.data(), n, V, I.probs.data(), I.row_loss.data(), diag + kCeLoss);
  total_loss(diag + kCeLoss, diag + kAux, L, diag + kLoss);  // aux slots stay 0 without the aux loss
}

template <class T>
ForwardStats Model<T>::forward(const std::vector<std::int32_t>& tokens, const std::vector<std::int32_t>& targets,
                               index_t batch) {
  enqueue_forward(tokens, targets, batch);
  return read_loss();
}

template <class T>
ForwardStats Model<T>::read_loss() {
  const double* h = impl_->host.fetch(impl_->diagnostics.data(), 2);  // slots kLoss, kCeLoss
  ForwardStats stats;
  stats.loss = h[kLoss];
  stats.ce_loss = h[kCeLoss];
  return stats;
}

template <class T>
StepDiagnostics Model<T>::read_diagnostics() {
  auto& I = *impl_;
  const auto& m = spec_.model;
  const double* h = I.host.fetch(I.diagnostics.data(), I.diagnostics.size());
  StepDiagnostics out;
  out.stats.loss = h[kLoss];
  out.stats.ce_loss = h[kCeLoss];
  out.grad_norm = h[kGradNorm];
  out.first_nonfinite_step = static_cast<std::int64_t>(h[kFirstNonfinite]);
  for (index_t l = 0; l < m.n_layers; ++l) out.stats.residual_rms.push_back(h[I.rms_slot + l]);
  if (m.is_moe())
    for (index_t l = 0; l < m.n_layers; ++l) {
      const double* load = h + I.load_slot + l * m.n_experts;
      out.stats.load.emplace_back(load, load + m.n_experts);
    }
  return out;
}

template <class T>
void Model<T>::backward() {
  auto& I = *impl_;
  auto& S = I.scratch;
  const auto& m = spec_.model;
  const index_t Tn = spec_.seq_len, d = m.d_model, H = spec_.n_heads(), dh = m.d_head, V = spec_.vocab_size;
  const index_t n = I.n, batch = I.batch;
  const bool moe = m.is_moe();
  const index_t N = moe ? m.n_experts : 0, a = moe ? m.n_active : 0;
  const auto P = [&](int i) -> DeviceParameter<T>& { return parameters_[static_cast<std::size_t>(i)]; };
  ensure(S.dlogits, n * V);
  for (auto* buffer : {&S.du, &S.dx, &S.df, &S.du2, &S.dattn, &S.dheads, &S.du1}) ensure(*buffer, n * d);
  ensure(S.dqkv, n * 3 * d);
  ensure(S.dprobs, batch * H * Tn * Tn);
  ensure(S.dy, I.max_kept * d);
  ensure(S.dxs, I.max_kept * d);
  ensure(S.dgate, n * a);
  ensure(S.dp, n * N);
  ensure(S.ds, n * N);
  ensure(S.dys, moe && m.n_shared > 0 ? n * d : 0);
  ensure(S.dxs_shared, moe && m.n_shared > 0 ? n * d : 0);
  const UnitScratch<T> unit_scratch{S.dact.data(), S.dz_up.data(), S.dz_gate.data()};

  for (auto& p : parameters_) p.grad.zero();
  const T m_norm = sc<T>(spec_.mult(ParameterGroup::norm));
  const T residual = sc<T>(spec_.residual_multiplier);
  const auto gain_grad = [&](int i) -> T* { return P(i).trainable ? P(i).grad.data() : nullptr; };
  T* dlogits = S.dlogits.data();
  T* du = S.du.data();
  T* dx = S.dx.data();
  T* df = S.df.data();
  T* du2 = S.du2.data();
  cross_entropy_backward(I.probs.data(), I.targets.data(), n, V, dlogits);
  const T m_head = sc<T>(spec_.mult(ParameterGroup::head));
  I.blas.gemm(true, false, d, V, n, m_head, I.final_u.data(), d, dlogits, V, T(1), P(I.head).grad.data(), V);
  I.blas.gemm(false, true, n, d, V, m_head, dlogits, V, P(I.head).value.data(), V, T(0), du, d);
  layer_norm_backward(du, I.final_hat.data(), I.final_rstd.data(), P(I.final_norm).value.data(), m_norm, n, d, dx, false,
                      gain_grad(I.final_norm));
  for (std::size_t li = I.blocks.size(); li-- > 0;) {
    const auto& bi = I.blocks[li];
    auto& c = I.caches[li];
    scaled_copy(residual, dx, n * d, df);  // x_out = x_mid + r·f
    if (!moe) {
      UnitWeights<T> w{&P(bi.up), bi.gate >= 0 ? &P(bi.gate) : nullptr, &P(bi.down),
                       sc<T>(spec_.mult(ParameterGroup::ffn_up)), sc<T>(spec_.mult(ParameterGroup::ffn_gate)),
                       sc<T>(spec_.mult(ParameterGroup::ffn_down))};
      unit_backward(I.blas, w, c.u2.data(), c.dense.z_up.data(), c.dense.z_gate.data(), c.dense.act.data(), df, n, d,
                    m.d_ffn, unit_scratch, du2);
    } else {
      const index_t h = m.d_expert;
      const auto& E = I.experts[li];
      const index_t* offsets = c.offsets.data();
      const index_t R = I.max_kept;
      const T m_up = sc<T>(spec_.mult(ParameterGroup::expert_up));
      const T m_gate = sc<T>(spec_.mult(ParameterGroup::expert_gate));
      const T m_down = sc<T>(spec_.mult(ParameterGroup::expert_down));
      T* dy = S.dy.data();
      T* dxs = S.dxs.data();
      T* dgate = S.dgate.data();
      combine_backward(df, c.ys.data(), c.rows.data(), c.slots.data(), c.gate.data(), sc<T>(spec_.route_scale_routed),
                       offsets + N, R, n, a, d, dy, dgate);
      // routed experts, grouped over the device offsets (the CPU's unit backward, expert by expert):
      // dW_down += m·actᵀ·dy ; dact = m·dy·W_downᵀ ; dz ; dW_gate/up += m·xsᵀ·dz ; dxs = Σ m·dz·Wᵀ
      grouped_gemm_reduce(N, offsets, h, d, m_down, c.act.data(), h, dy, d, T(1), E.down_grad.data(), d);
      grouped_gemm_rows(true, N, offsets, R, h, d, m_down, dy, d, E.down.data(), d, T(0), unit_scratch.dact, h);
      if (m.has_gate()) {
        swiglu_backward(c.z_gate.data(), c.z_up.data(), unit_scratch.dact, R * h, unit_scratch.dz_gate,
                        unit_scratch.dz_up);
        grouped_gemm_reduce(N, offsets, d, h, m_gate, c.xs.data(), d, unit_scratch.dz_gate, h, T(1),
                            E.gate_grad.data(), h);
        grouped_gemm_rows(true, N, offsets, R, d, h, m_gate, unit_scratch.dz_gate, h, E.gate.data(), h, T(0), dxs, d);
        grouped_gemm_rows(true, N, offsets, R, d, h, m_up, unit_scratch.dz_up, h, E.up.data(), h, T(1), dxs, d);
      } else {
        gelu_backward(c.z_up.data(), unit_scratch.dact, R * h, unit_scratch.dz_up);
        grouped_gemm_rows(true, N, offsets, R, d, h, m_up, unit_scratch.dz_up, h, E.up.data(), h, T(0), dxs, d);
      }
      grouped_gemm_reduce(N, offsets, d, h, m_up, c.xs.data(), d, unit_scratch.dz_up, h, T(1), E.up_grad.data(), h);
      // du2 = Σ_experts (in expert order, as the CPU) of dx rows scattered back to their tokens
      combine(dxs, c.position.data(), c.choice.data(), c.gate.data(), T(1), false, n, a, d, du2, false);
      for (std::int64_t s = 0; s < m.n_shared; ++s) {
        const auto us = static_cast<std::size_t>(s);
        auto& u = c.shared[us];
        UnitWeights<T> w{&P(bi.shared_up[us]), m.has_gate() ? &P(bi.shared_gate[us]) : nullptr, &P(bi.shared_down[us]),
                         sc<T>(spec_.mult(ParameterGroup::shared_up)), sc<T>(spec_.mult(ParameterGroup::shared_gate)),
                         sc<T>(spec_.mult(ParameterGroup::shared_down))};
        scaled_copy(sc<T>(spec_.route_scale_shared), df, n * d, S.dys.data());
        unit_backward(I.blas, w, c.u2.data(), u.z_up.data(), u.z_gate.data(), u.act.data(), S.dys.data(), n, d,
                      m.d_shared, unit_scratch, S.dxs_shared.data());
        axpy(T(1), S.dxs_shared.data(), n * d, du2);
      }
      // gates (+ aux loss) → router probabilities → scores → router weights and du2
      T* dp = S.dp.data();
      T* ds = S.ds.data();
      gates_backward(c.router_p.data(), c.choice.data(), c.gate.data(), dgate, n, N, a, spec_.normalize_gates, dp);
      if (spec_.options.aux_loss_coef > 0.0)
        aux_balance_backward(c.router_p.data(), c.row_total.data(), c.load_fraction.data(), n, N,
                             spec_.options.aux_loss_coef, dp);
      router_backward(c.router_p.data(), dp, n, N, m.router == theory::RouterKind::sigmoid, ds);
      const T m_router = sc<T>(spec_.mult(ParameterGroup::router));
      I.blas.gemm(true, false, d, N, n, m_router, c.u2.data(), d, ds, N, T(1), P(bi.router).grad.data(), N);
      I.blas.gemm(false, true, n, d, N, m_router, ds, N, P(bi.router).value.data(), N, T(1), du2, d);
    }
    layer_norm_backward(du2, c.hat2.data(), c.rstd2.data(), P(bi.ln2).value.data(), m_norm, n, d, dx, true,
                        gain_grad(bi.ln2));
    // attention backward
    T* dattn = S.dattn.data();
    T* dheads = S.dheads.data();
    T* dqkv = S.dqkv.data();
    T* dprobs = S.dprobs.data();
    scaled_copy(residual, dx, n * d, dattn);  // x_mid = x_in + r·attn
    const T m_out = sc<T>(spec_.mult(ParameterGroup::attn_out));
    I.blas.gemm(true, false, d, d, n, m_out, c.heads.data(), d, dattn, d, T(1), P(bi.out).grad.data(), d);
    I.blas.gemm(false, true, n, d, d, m_out, dattn, d, P(bi.out).value.data(), d, T(0), dheads, d);
    const T scale = sc<T>(spec_.attention_logit_scale);
    for (index_t b = 0; b < batch; ++b) {
      const T* qkv = c.qkv.data() + b * Tn * 3 * d;
      const T* dout = dheads + b * Tn * d;
      const T* p = c.probs.data() + b * H * Tn * Tn;
      T* dbase = dqkv + b * Tn * 3 * d;
      // dV_h = P_hᵀ·dO_h ; dP_h = dO_h·V_hᵀ
      I.blas.gemm_strided_batched(true, false, Tn, dh, Tn, T(1), p, Tn, Tn * Tn, dout, d, dh, T(0), dbase + 2 * d, 3 * d,
                                  dh, H);
      I.blas.gemm_strided_batched(false, true, Tn, Tn, dh, T(1), dout, d, dh, qkv + 2 * d, 3 * d, dh, T(0),
                                  dprobs + b * H * Tn * Tn, Tn, Tn * Tn, H);
    }
    // dS = scale·P ⊙ (dP − rowsum(dP ⊙ P)), in place
    softmax_rows_backward(c.probs.data(), dprobs, batch * H * Tn, Tn, scale, dprobs);
    for (index_t b = 0; b < batch; ++b) {
      const T* qkv = c.qkv.data() + b * Tn * 3 * d;
      const T* dsb = dprobs + b * H * Tn * Tn;
      T* dbase = dqkv + b * Tn * 3 * d;
      // dQ_h = dS_h·K_h ; dK_h = dS_hᵀ·Q_h
      I.blas.gemm_strided_batched(false, false, Tn, dh, Tn, T(1), dsb, Tn, Tn * Tn, qkv + d, 3 * d, dh, T(0), dbase, 3 * d,
                                  dh, H);
      I.blas.gemm_strided_batched(true, false, Tn, dh, Tn, T(1), dsb, Tn, Tn * Tn, qkv, 3 * d, dh, T(0), dbase + d, 3 * d,
                                  dh, H);
    }
    const T m_qkv = sc<T>(spec_.mult(ParameterGroup::attn_qkv));
    I.blas.gemm(true, false, d, 3 * d, n, m_qkv, c.u1.data(), d, dqkv, 3 * d, T(1), P(bi.qkv).grad.data(), 3 * d);
    T* du1 = S.du1.data();
    I.blas.gemm(false, true, n, d, 3 * d, m_qkv, dqkv, 3 * d, P(bi.qkv).value.data(), 3 * d, T(0), du1, d);
    layer_norm_backward(du1, c.hat1.data(), c.rstd1.data(), P(bi.ln1).value.data(), m_norm, n, d, dx, true,
                        gain_grad(bi.ln1));
  }
  embedding_backward(dx, I.tokens.data(), n, Tn, V, d, sc<T>(spec_.mult(ParameterGroup::embedding)),
                     P(I.token_embedding).grad.data(), P(I.position_embedding).grad.data());
}

template <class T>
void Model<T>::finish_gradients(std::int64_t step) {
  auto& I = *impl_;
  double* diag = I.diagnostics.data();
  global_norm(I.grad_tensors.data(), I.grad_sizes.data(), I.grad_count, I.norm_partials.data(),
              I.norm_per_tensor.data(), diag + kGradNorm);
  step_guard(diag + kLoss, diag + kGradNorm, static_cast<double>(step), diag + kStepOk, diag + kFirstNonfinite);
}

template <class T>
void Model<T>::step(theory::OptimizerKind kind, const std::map<ParameterGroup, GroupHyperparameters>& groups,
                    double schedule_factor) {
  ++steps_;
  const double step = static_cast<double>(steps_);
  const double* step_ok = impl_->diagnostics.data() + kStepOk;
  for (auto& p : parameters_) {
    if (!p.trainable) continue;
    const auto count = p.rows * p.cols;
    if (p.first.size() == 0) {  // first step: the moments are allocated (zeroed) once
      ensure(p.first, count);
      if (kind != theory::OptimizerKind::sgd) ensure(p.second, count);
    }
    const auto& h = groups.at(p.group);
    const double lr = h.lr * schedule_factor;
    if (kind == theory::OptimizerKind::sgd) {
      sgd_update(p.value.data(), p.first.data(), p.grad.data(), count, lr, h.weight_decay, h.beta1, step_ok);
    } else {
      const shared::AdamStep constants{lr, h.weight_decay, h.eps, h.beta1, h.beta2, 1.0 - std::pow(h.beta1, step),
                                       1.0 - std::pow(h.beta2, step), kind == theory::OptimizerKind::adamw};
      adam_update(p.value.data(), p.first.data(), p.second.data(), p.grad.data(), count, constants, step_ok);
    }
  }
}

template <class T>
void Model<T>::update_balance_bias() {
  const auto& m = spec_.model;
  if (!m.is_moe() || spec_.options.bias_rate == 0.0) return;
  auto& I = *impl_;
  for (std::size_t l = 0; l < I.caches.size(); ++l)
    balance_bias_update(I.bias[l].data(), I.caches[l].load_count.data(), I.n, m.n_experts, m.n_active,
                        spec_.options.bias_rate, I.diagnostics.data() + kStepOk);
}

template class Model<float>;
template class Model<double>;

}  // namespace muelab::models::cuda
