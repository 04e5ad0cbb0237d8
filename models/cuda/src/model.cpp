// The CUDA model (see model.hpp): plain C++ that drives the launchers of kernels.hpp and cuBLAS.
// The order of operations mirrors models/cpu/src/model.cpp step for step (THEORY.md §2–§6), so
// each stage has a CPU twin for the parity suite.
#include "muelab/models/cuda/model.hpp"

#include <cmath>
#include <stdexcept>

namespace muelab::models::cuda {

namespace {
template <class T>
T sc(double v) {
  return static_cast<T>(v);
}
template <class T>
DeviceArray<T> buffer(index_t count) {
  return DeviceArray<T>(static_cast<std::size_t>(count));
}
}  // namespace

/// One feed-forward unit's weights and caches (dense FFN, one routed expert, one shared expert).
template <class T>
struct UnitCache {
  index_t row0 = 0, rows = 0;  ///< rows [row0, row0 + rows) of the input block
  DeviceArray<T> z_up, z_gate, act, y;
};

template <class T>
struct Model<T>::Impl {
  struct Block {
    int ln1 = -1, qkv = -1, out = -1, ln2 = -1, up = -1, gate = -1, down = -1, router = -1;
    std::vector<int> expert_up, expert_gate, expert_down, shared_up, shared_gate, shared_down;
  };
  struct Cache {
    DeviceArray<T> hat1, rstd1, u1, qkv, probs, heads, hat2, rstd2, u2;
    UnitCache<T> dense;
    // MoE
    DeviceArray<T> router_p, gate;
    DeviceArray<index_t> choice, load_count, offsets, rows, slots, position;
    std::vector<index_t> host_offsets;
    index_t kept = 0;
    DeviceArray<T> xs, z_up, z_gate, act, ys;  ///< permuted rows (kept × d or kept × d_expert)
    std::vector<UnitCache<T>> shared;
  };
  Blas blas;
  std::vector<Block> blocks;
  int token_embedding = -1, position_embedding = -1, final_norm = -1, head = -1;
  std::vector<DeviceArray<double>> bias;  ///< per MoE block
  std::vector<std::vector<double>> last_load;
  std::vector<Cache> caches;
  index_t batch = 0, n = 0;
  DeviceArray<std::int32_t> tokens, targets;
  DeviceArray<T> final_hat, final_rstd, final_u, probs;
  DeviceArray<double> row_loss, scalar, partials{256};
};

template <class T>
Model<T>::Model(ModelSpec spec) : spec_(std::move(spec)), impl_(std::make_unique<Impl>()) {
  if (spec_.options.aux_loss_coef > 0.0)
    throw std::invalid_argument("trainer.aux_loss_coef: the CUDA backend supports 0 only (use --device cpu)");
  const cpu::Model<T> layout(spec_);  // the CPU reference's parameter list: names, groups, shapes
  std::map<std::string, int> index;
  for (const auto& p : layout.parameters()) {
    DeviceParameter<T> d;
    d.name = p.name;
    d.group = p.group;
    d.trainable = p.trainable;
    d.rows = p.value.rows();
    d.cols = p.value.cols();
    d.value = buffer<T>(d.rows * d.cols);
    d.grad = buffer<T>(d.rows * d.cols);
    index[p.name] = static_cast<int>(parameters_.size());
    parameters_.push_back(std::move(d));
  }
  const auto& m = spec_.model;
  auto& I = *impl_;
  I.token_embedding = index.at("token_embedding");
  I.position_embedding = index.at("position_embedding");
  I.final_norm = index.at("final_norm.gain");
  I.head = index.at("head");
  for (std::int64_t l = 0; l < m.n_layers; ++l) {
    const std::string p = "blocks." + std::to_string(l) + ".";
    typename Impl::Block b;
    b.ln1 = index.at(p + "norm1.gain");
    b.qkv = index.at(p + "attn.qkv");
    b.out = index.at(p + "attn.out");
    b.ln2 = index.at(p + "norm2.gain");
    if (!m.is_moe()) {
      b.up = index.at(p + "ffn.up");
      if (m.has_gate()) b.gate = index.at(p + "ffn.gate");
      b.down = index.at(p + "ffn.down");
    } else {
      b.router = index.at(p + "router");
      for (std::int64_t e = 0; e < m.n_experts; ++e) {
        const std::string q = p + "experts." + std::to_string(e) + ".";
        b.expert_up.push_back(index.at(q + "up"));
        if (m.has_gate()) b.expert_gate.push_back(index.at(q + "gate"));
        b.expert_down.push_back(index.at(q + "down"));
      }
      for (std::int64_t s = 0; s < m.n_shared; ++s) {
        const std::string q = p + "shared." + std::to_string(s) + ".";
        b.shared_up.push_back(index.at(q + "up"));
        if (m.has_gate()) b.shared_gate.push_back(index.at(q + "gate"));
        b.shared_down.push_back(index.at(q + "down"));
      }
    }
    I.blocks.push_back(std::move(b));
    I.bias.emplace_back(std::vector<double>(m.is_moe() ? static_cast<std::size_t>(m.n_experts) : 0U, 0.0));
  }
  I.scalar = DeviceArray<double>(1);
  load_from(layout);  // gains = 1, weights 0 until initialize()
}

template <class T>
Model<T>::~Model() = default;

template <class T>
void Model<T>::initialize(std::uint64_t seed) {
  cpu::Model<T> host(spec_);
  host.initialize(seed);  // CounterRng(seed, "model" + parameter index): the CPU's Philox streams
  load_from(host);
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

/// Accumulates the unit's weight gradients and writes dx (rows × d).
template <class T>
void unit_backward(Blas& blas, const UnitWeights<T>& w, const T* x, const T* z_up, const T* z_gate, const T* act, const T* dy,
                   index_t rows, index_t d, index_t h, T* dx) {
  auto* down = w.down;
  auto* up = w.up;
  blas.gemm(true, false, h, d, rows, w.m_down, act, h, dy, d, T(1), down->grad.data(), d);
  auto dact = buffer<T>(rows * h);
  auto dz_up = buffer<T>(rows * h);
  blas.gemm(false, true, rows, h, d, w.m_down, dy, d, down->value.data(), d, T(0), dact.data(), h);
  if (w.gate) {
    auto* gate = w.gate;
    auto dz_gate = buffer<T>(rows * h);
    swiglu_backward(z_gate, z_up, dact.data(), rows * h, dz_gate.data(), dz_up.data());
    blas.gemm(true, false, d, h, rows, w.m_gate, x, d, dz_gate.data(), h, T(1), gate->grad.data(), h);
    blas.gemm(false, true, rows, d, h, w.m_gate, dz_gate.data(), h, gate->value.data(), h, T(0), dx, d);
    blas.gemm(false, true, rows, d, h, w.m_up, dz_up.data(), h, up->value.data(), h, T(1), dx, d);
    synchronize();  // scratch buffers die here
  } else {
    gelu_backward(z_up, dact.data(), rows * h, dz_up.data());
    blas.gemm(false, true, rows, d, h, w.m_up, dz_up.data(), h, up->value.data(), h, T(0), dx, d);
  }
  blas.gemm(true, false, d, h, rows, w.m_up, x, d, dz_up.data(), h, T(1), up->grad.data(), h);
  synchronize();  // dact/dz_up are freed at scope end
}

}  // namespace

template <class T>
ForwardStats Model<T>::forward(const std::vector<std::int32_t>& tokens, const std::vector<std::int32_t>& targets,
                               index_t batch) {
  auto& I = *impl_;
  const auto& m = spec_.model;
  const index_t Tn = spec_.seq_len, d = m.d_model, H = spec_.n_heads(), dh = m.d_head, V = spec_.vocab_size;
  const index_t n = batch * Tn;
  if (static_cast<index_t>(tokens.size()) != n || static_cast<index_t>(targets.size()) != n)
    throw std::invalid_argument("forward: tokens and targets must hold batch × seq_len entries");
  I.batch = batch;
  I.n = n;
  I.tokens = DeviceArray<std::int32_t>(tokens);
  I.targets = DeviceArray<std::int32_t>(targets);
  I.last_load.clear();
  ForwardStats stats;
  const auto P = [&](int i) -> DeviceParameter<T>& { return parameters_[static_cast<std::size_t>(i)]; };
  const T m_norm = sc<T>(spec_.mult(ParameterGroup::norm));
  const T eps = sc<T>(spec_.options.norm_eps);
  const T residual = sc<T>(spec_.residual_multiplier);
  auto x = buffer<T>(n * d);
  embedding_forward(P(I.token_embedding).value.data(), P(I.position_embedding).value.data(), I.tokens.data(), n, Tn, d,
                    sc<T>(spec_.mult(ParameterGroup::embedding)), x.data());
  I.caches.clear();
  I.caches.resize(static_cast<std::size_t>(m.n_layers));
  for (std::size_t l = 0; l < I.blocks.size(); ++l) {
    const auto& bi = I.blocks[l];
    auto& c = I.caches[l];
    c.hat1 = buffer<T>(n * d);
    c.rstd1 = buffer<T>(n);
    c.u1 = buffer<T>(n * d);
    layer_norm_forward(x.data(), P(bi.ln1).value.data(), m_norm, eps, n, d, c.hat1.data(), c.rstd1.data(), c.u1.data());
    // attention (§2): qkv, per sequence a strided batch over heads, causal softmax, P·V
    c.qkv = buffer<T>(n * 3 * d);
    I.blas.gemm(false, false, n, 3 * d, d, sc<T>(spec_.mult(ParameterGroup::attn_qkv)), c.u1.data(), d,
                P(bi.qkv).value.data(), 3 * d, T(0), c.qkv.data(), 3 * d);
    c.probs = buffer<T>(batch * H * Tn * Tn);
    c.heads = buffer<T>(n * d);
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
    {
      auto attn_out = buffer<T>(n * d);
      I.blas.gemm(false, false, n, d, d, sc<T>(spec_.mult(ParameterGroup::attn_out)), c.heads.data(), d,
                  P(bi.out).value.data(), d, T(0), attn_out.data(), d);
      axpy(residual, attn_out.data(), n * d, x.data());
      synchronize();
    }
    c.hat2 = buffer<T>(n * d);
    c.rstd2 = buffer<T>(n);
    c.u2 = buffer<T>(n * d);
    layer_norm_forward(x.data(), P(bi.ln2).value.data(), m_norm, eps, n, d, c.hat2.data(), c.rstd2.data(), c.u2.data());
    auto ffn_out = buffer<T>(n * d);
    if (!m.is_moe()) {
      const index_t h = m.d_ffn;
      UnitWeights<T> w{&P(bi.up), bi.gate >= 0 ? &P(bi.gate) : nullptr, &P(bi.down),
                       sc<T>(spec_.mult(ParameterGroup::ffn_up)), sc<T>(spec_.mult(ParameterGroup::ffn_gate)),
                       sc<T>(spec_.mult(ParameterGroup::ffn_down))};
      c.dense.rows = n;
      c.dense.z_up = buffer<T>(n * h);
      c.dense.z_gate = buffer<T>(w.gate ? n * h : 0);
      c.dense.act = buffer<T>(n * h);
      unit_forward(I.blas, w, c.u2.data(), n, d, h, c.dense.z_up.data(), c.dense.z_gate.data(), c.dense.act.data(),
                   ffn_out.data());
    } else {
      // router (§5) → top-a on p + bias with gates (§6) → permutation by expert → per-expert GEMMs → combine
      const index_t N = m.n_experts, a = m.n_active, h = m.d_expert;
      auto scores = buffer<T>(n * N);
      I.blas.gemm(false, false, n, N, d, sc<T>(spec_.mult(ParameterGroup::router)), c.u2.data(), d,
                  P(bi.router).value.data(), N, T(0), scores.data(), N);
      c.router_p = buffer<T>(n * N);
      router_probabilities(scores.data(), n, N, m.router == theory::RouterKind::sigmoid, c.router_p.data());
      c.choice = buffer<index_t>(n * a);
      c.gate = buffer<T>(n * a);
      top_a_gates(c.router_p.data(), I.bias[l].data(), n, N, m.n_groups, a / m.n_groups, spec_.normalize_gates,
                  c.choice.data(), c.gate.data());
      const index_t capacity =
          spec_.options.capacity_factor > 0.0
              ? static_cast<index_t>(std::ceil(spec_.options.capacity_factor * static_cast<double>(n * a) / static_cast<double>(N)))
              : n * a;
      c.load_count = buffer<index_t>(N);
      c.offsets = buffer<index_t>(N + 1);
      c.rows = buffer<index_t>(n * a);
      c.slots = buffer<index_t>(n * a);
      c.position = buffer<index_t>(n * a);
      permute_by_expert(c.choice.data(), n, a, N, capacity, c.load_count.data(), c.offsets.data(), c.rows.data(),
                        c.slots.data(), c.position.data());
      c.host_offsets = c.offsets.download();  // N+1 integers: the per-expert GEMM shapes
      c.kept = c.host_offsets.back();
      const auto counts = c.load_count.download();
      std::vector<double> load(static_cast<std::size_t>(N));
      for (index_t e = 0; e < N; ++e)
        load[static_cast<std::size_t>(e)] = static_cast<double>(counts[static_cast<std::size_t>(e)]) / static_cast<double>(n);
      I.last_load.push_back(load);
      c.xs = buffer<T>(c.kept * d);
      c.z_up = buffer<T>(c.kept * h);
      c.z_gate = buffer<T>(m.has_gate() ? c.kept * h : 0);
      c.act = buffer<T>(c.kept * h);
      c.ys = buffer<T>(c.kept * d);
      gather_rows(c.u2.data(), c.rows.data(), c.kept, d, c.xs.data());
      for (index_t e = 0; e < N; ++e) {
        const index_t r0 = c.host_offsets[static_cast<std::size_t>(e)];
        const index_t rows = c.host_offsets[static_cast<std::size_t>(e) + 1] - r0;
        if (rows == 0) continue;
        const auto ue = static_cast<std::size_t>(e);
        UnitWeights<T> w{&P(bi.expert_up[ue]), m.has_gate() ? &P(bi.expert_gate[ue]) : nullptr, &P(bi.expert_down[ue]),
                         sc<T>(spec_.mult(ParameterGroup::expert_up)), sc<T>(spec_.mult(ParameterGroup::expert_gate)),
                         sc<T>(spec_.mult(ParameterGroup::expert_down))};
        unit_forward(I.blas, w, c.xs.data() + r0 * d, rows, d, h, c.z_up.data() + r0 * h,
                     m.has_gate() ? c.z_gate.data() + r0 * h : nullptr, c.act.data() + r0 * h, c.ys.data() + r0 * d);
      }
      combine(c.ys.data(), c.position.data(), c.choice.data(), c.gate.data(), sc<T>(spec_.route_scale_routed), true, n, a,
              d, ffn_out.data(), false);
      c.shared.clear();
      c.shared.resize(static_cast<std::size_t>(m.n_shared));
      for (std::int64_t s = 0; s < m.n_shared; ++s) {
        const auto us = static_cast<std::size_t>(s);
        const index_t hs = m.d_shared;
        auto& sc_ = c.shared[us];
        UnitWeights<T> w{&P(bi.shared_up[us]), m.has_gate() ? &P(bi.shared_gate[us]) : nullptr, &P(bi.shared_down[us]),
                         sc<T>(spec_.mult(ParameterGroup::shared_up)), sc<T>(spec_.mult(ParameterGroup::shared_gate)),
                         sc<T>(spec_.mult(ParameterGroup::shared_down))};
        sc_.rows = n;
        sc_.z_up = buffer<T>(n * hs);
        sc_.z_gate = buffer<T>(m.has_gate() ? n * hs : 0);
        sc_.act = buffer<T>(n * hs);
        sc_.y = buffer<T>(n * d);
        unit_forward(I.blas, w, c.u2.data(), n, d, hs, sc_.z_up.data(), sc_.z_gate.data(), sc_.act.data(), sc_.y.data());
        axpy(sc<T>(spec_.route_scale_shared), sc_.y.data(), n * d, ffn_out.data());
      }
      synchronize();  // scores is freed at scope end
    }
    axpy(residual, ffn_out.data(), n * d, x.data());
    sum_of_squares(x.data(), n * d, I.partials.data(), I.scalar.data());
    stats.residual_rms.push_back(std::sqrt(I.scalar.download()[0] / static_cast<double>(n * d)));
  }
  I.final_hat = buffer<T>(n * d);
  I.final_rstd = buffer<T>(n);
  I.final_u = buffer<T>(n * d);
  layer_norm_forward(x.data(), P(I.final_norm).value.data(), m_norm, eps, n, d, I.final_hat.data(), I.final_rstd.data(),
                     I.final_u.data());
  logits_ = buffer<T>(n * V);
  I.blas.gemm(false, false, n, V, d, sc<T>(spec_.mult(ParameterGroup::head)), I.final_u.data(), d,
              P(I.head).value.data(), V, T(0), logits_.data(), V);
  I.probs = buffer<T>(n * V);
  I.row_loss = DeviceArray<double>(static_cast<std::size_t>(n));
  cross_entropy(logits_.data(), I.targets.data(), n, V, I.probs.data(), I.row_loss.data(), I.scalar.data());
  stats.ce_loss = I.scalar.download()[0];  // the one scalar the step reads back
  stats.loss = stats.ce_loss;
  stats.load = I.last_load;
  return stats;
}

template <class T>
void Model<T>::backward() {
  auto& I = *impl_;
  const auto& m = spec_.model;
  const index_t Tn = spec_.seq_len, d = m.d_model, H = spec_.n_heads(), dh = m.d_head, V = spec_.vocab_size;
  const index_t n = I.n, batch = I.batch;
  const auto P = [&](int i) -> DeviceParameter<T>& { return parameters_[static_cast<std::size_t>(i)]; };
  for (auto& p : parameters_) p.grad.zero();
  const T m_norm = sc<T>(spec_.mult(ParameterGroup::norm));
  const T residual = sc<T>(spec_.residual_multiplier);
  const auto gain_grad = [&](int i) -> T* { return P(i).trainable ? P(i).grad.data() : nullptr; };
  auto dlogits = buffer<T>(n * V);
  cross_entropy_backward(I.probs.data(), I.targets.data(), n, V, dlogits.data());
  const T m_head = sc<T>(spec_.mult(ParameterGroup::head));
  I.blas.gemm(true, false, d, V, n, m_head, I.final_u.data(), d, dlogits.data(), V, T(1), P(I.head).grad.data(), V);
  auto du = buffer<T>(n * d);
  I.blas.gemm(false, true, n, d, V, m_head, dlogits.data(), V, P(I.head).value.data(), V, T(0), du.data(), d);
  auto dx = buffer<T>(n * d);
  layer_norm_backward(du.data(), I.final_hat.data(), I.final_rstd.data(), P(I.final_norm).value.data(), m_norm, n, d,
                      dx.data(), false, gain_grad(I.final_norm));
  auto df = buffer<T>(n * d);
  auto du2 = buffer<T>(n * d);
  for (std::size_t li = I.blocks.size(); li-- > 0;) {
    const auto& bi = I.blocks[li];
    auto& c = I.caches[li];
    scaled_copy(residual, dx.data(), n * d, df.data());  // x_out = x_mid + r·f
    if (!m.is_moe()) {
      UnitWeights<T> w{&P(bi.up), bi.gate >= 0 ? &P(bi.gate) : nullptr, &P(bi.down),
                       sc<T>(spec_.mult(ParameterGroup::ffn_up)), sc<T>(spec_.mult(ParameterGroup::ffn_gate)),
                       sc<T>(spec_.mult(ParameterGroup::ffn_down))};
      unit_backward(I.blas, w, c.u2.data(), c.dense.z_up.data(), c.dense.z_gate.data(), c.dense.act.data(), df.data(),
                    n, d, m.d_ffn, du2.data());
    } else {
      const index_t N = m.n_experts, a = m.n_active, h = m.d_expert;
      auto dy = buffer<T>(c.kept * d);
      auto dgate = buffer<T>(n * a);
      auto dxs = buffer<T>(c.kept * d);
      combine_backward(df.data(), c.ys.data(), c.rows.data(), c.slots.data(), c.gate.data(), sc<T>(spec_.route_scale_routed),
                       c.kept, n, a, d, dy.data(), dgate.data());
      for (index_t e = 0; e < N; ++e) {
        const index_t r0 = c.host_offsets[static_cast<std::size_t>(e)];
        const index_t rows = c.host_offsets[static_cast<std::size_t>(e) + 1] - r0;
        if (rows == 0) continue;
        const auto ue = static_cast<std::size_t>(e);
        UnitWeights<T> w{&P(bi.expert_up[ue]), m.has_gate() ? &P(bi.expert_gate[ue]) : nullptr, &P(bi.expert_down[ue]),
                         sc<T>(spec_.mult(ParameterGroup::expert_up)), sc<T>(spec_.mult(ParameterGroup::expert_gate)),
                         sc<T>(spec_.mult(ParameterGroup::expert_down))};
        unit_backward(I.blas, w, c.xs.data() + r0 * d, c.z_up.data() + r0 * h,
                      m.has_gate() ? c.z_gate.data() + r0 * h : nullptr, c.act.data() + r0 * h, dy.data() + r0 * d, rows,
                      d, h, dxs.data() + r0 * d);
      }
      // du2 = Σ_experts (in expert order, as the CPU) of dx rows scattered back to their tokens
      combine(dxs.data(), c.position.data(), c.choice.data(), c.gate.data(), T(1), false, n, a, d, du2.data(), false);
      for (std::int64_t s = 0; s < m.n_shared; ++s) {
        const auto us = static_cast<std::size_t>(s);
        auto& sc_ = c.shared[us];
        UnitWeights<T> w{&P(bi.shared_up[us]), m.has_gate() ? &P(bi.shared_gate[us]) : nullptr, &P(bi.shared_down[us]),
                         sc<T>(spec_.mult(ParameterGroup::shared_up)), sc<T>(spec_.mult(ParameterGroup::shared_gate)),
                         sc<T>(spec_.mult(ParameterGroup::shared_down))};
        auto dys = buffer<T>(n * d);
        auto dxs_shared = buffer<T>(n * d);
        scaled_copy(sc<T>(spec_.route_scale_shared), df.data(), n * d, dys.data());
        unit_backward(I.blas, w, c.u2.data(), sc_.z_up.data(), sc_.z_gate.data(), sc_.act.data(), dys.data(), n, d,
                      m.d_shared, dxs_shared.data());
        axpy(T(1), dxs_shared.data(), n * d, du2.data());
        synchronize();
      }
      // gates → router probabilities → scores → router weights and du2
      auto dp = buffer<T>(n * N);
      auto ds = buffer<T>(n * N);
      gates_backward(c.router_p.data(), c.choice.data(), c.gate.data(), dgate.data(), n, N, a, spec_.normalize_gates,
                     dp.data());
      router_backward(c.router_p.data(), dp.data(), n, N, m.router == theory::RouterKind::sigmoid, ds.data());
      const T m_router = sc<T>(spec_.mult(ParameterGroup::router));
      I.blas.gemm(true, false, d, N, n, m_router, c.u2.data(), d, ds.data(), N, T(1), P(bi.router).grad.data(), N);
      I.blas.gemm(false, true, n, d, N, m_router, ds.data(), N, P(bi.router).value.data(), N, T(1), du2.data(), d);
      synchronize();
    }
    layer_norm_backward(du2.data(), c.hat2.data(), c.rstd2.data(), P(bi.ln2).value.data(), m_norm, n, d, dx.data(), true,
                        gain_grad(bi.ln2));
    // attention backward
    auto dattn = buffer<T>(n * d);
    scaled_copy(residual, dx.data(), n * d, dattn.data());  // x_mid = x_in + r·attn
    const T m_out = sc<T>(spec_.mult(ParameterGroup::attn_out));
    I.blas.gemm(true, false, d, d, n, m_out, c.heads.data(), d, dattn.data(), d, T(1), P(bi.out).grad.data(), d);
    auto dheads = buffer<T>(n * d);
    I.blas.gemm(false, true, n, d, d, m_out, dattn.data(), d, P(bi.out).value.data(), d, T(0), dheads.data(), d);
    auto dqkv = buffer<T>(n * 3 * d);
    auto dprobs = buffer<T>(batch * H * Tn * Tn);
    const T scale = sc<T>(spec_.attention_logit_scale);
    for (index_t b = 0; b < batch; ++b) {
      const T* qkv = c.qkv.data() + b * Tn * 3 * d;
      const T* dout = dheads.data() + b * Tn * d;
      const T* p = c.probs.data() + b * H * Tn * Tn;
      T* dbase = dqkv.data() + b * Tn * 3 * d;
      // dV_h = P_hᵀ·dO_h ; dP_h = dO_h·V_hᵀ
      I.blas.gemm_strided_batched(true, false, Tn, dh, Tn, T(1), p, Tn, Tn * Tn, dout, d, dh, T(0), dbase + 2 * d, 3 * d,
                                  dh, H);
      I.blas.gemm_strided_batched(false, true, Tn, Tn, dh, T(1), dout, d, dh, qkv + 2 * d, 3 * d, dh, T(0),
                                  dprobs.data() + b * H * Tn * Tn, Tn, Tn * Tn, H);
    }
    // dS = scale·P ⊙ (dP − rowsum(dP ⊙ P)), in place
    softmax_rows_backward(c.probs.data(), dprobs.data(), batch * H * Tn, Tn, scale, dprobs.data());
    for (index_t b = 0; b < batch; ++b) {
      const T* qkv = c.qkv.data() + b * Tn * 3 * d;
      const T* dsb = dprobs.data() + b * H * Tn * Tn;
      T* dbase = dqkv.data() + b * Tn * 3 * d;
      // dQ_h = dS_h·K_h ; dK_h = dS_hᵀ·Q_h
      I.blas.gemm_strided_batched(false, false, Tn, dh, Tn, T(1), dsb, Tn, Tn * Tn, qkv + d, 3 * d, dh, T(0), dbase, 3 * d,
                                  dh, H);
      I.blas.gemm_strided_batched(true, false, Tn, dh, Tn, T(1), dsb, Tn, Tn * Tn, qkv, 3 * d, dh, T(0), dbase + d, 3 * d,
                                  dh, H);
    }
    const T m_qkv = sc<T>(spec_.mult(ParameterGroup::attn_qkv));
    I.blas.gemm(true, false, d, 3 * d, n, m_qkv, c.u1.data(), d, dqkv.data(), 3 * d, T(1), P(bi.qkv).grad.data(), 3 * d);
    auto du1 = buffer<T>(n * d);
    I.blas.gemm(false, true, n, d, 3 * d, m_qkv, dqkv.data(), 3 * d, P(bi.qkv).value.data(), 3 * d, T(0), du1.data(), d);
    layer_norm_backward(du1.data(), c.hat1.data(), c.rstd1.data(), P(bi.ln1).value.data(), m_norm, n, d, dx.data(), true,
                        gain_grad(bi.ln1));
    synchronize();  // per-layer scratch is freed at scope end
  }
  embedding_backward(dx.data(), I.tokens.data(), n, Tn, V, d, sc<T>(spec_.mult(ParameterGroup::embedding)),
                     P(I.token_embedding).grad.data(), P(I.position_embedding).grad.data());
  synchronize();
}

template <class T>
double Model<T>::grad_norm() const {
  auto& I = *impl_;
  double total = 0.0;
  for (const auto& p : parameters_) {
    if (!p.trainable) continue;
    sum_of_squares(p.grad.data(), p.rows * p.cols, I.partials.data(), I.scalar.data());
    total += I.scalar.download()[0];
  }
  return std::sqrt(total);
}

template <class T>
void Model<T>::step(theory::OptimizerKind kind, const std::map<ParameterGroup, GroupHyperparameters>& groups,
                    double schedule_factor) {
  ++steps_;
  const double step = static_cast<double>(steps_);
  for (auto& p : parameters_) {
    if (!p.trainable) continue;
    const auto count = p.rows * p.cols;
    if (p.first.size() == 0) {
      p.first = buffer<T>(count);
      p.first.zero();
      if (kind != theory::OptimizerKind::sgd) {
        p.second = buffer<T>(count);
        p.second.zero();
      }
    }
    const auto& h = groups.at(p.group);
    const double lr = h.lr * schedule_factor;
    if (kind == theory::OptimizerKind::sgd) {
      sgd_update(p.value.data(), p.first.data(), p.grad.data(), count, lr, h.weight_decay, h.beta1);
    } else {
      const shared::AdamStep constants{lr, h.weight_decay, h.eps, h.beta1, h.beta2, 1.0 - std::pow(h.beta1, step),
                                       1.0 - std::pow(h.beta2, step), kind == theory::OptimizerKind::adamw};
      adam_update(p.value.data(), p.first.data(), p.second.data(), p.grad.data(), count, constants);
    }
  }
  synchronize();
}

template <class T>
void Model<T>::update_balance_bias() {
  const auto& m = spec_.model;
  if (!m.is_moe() || spec_.options.bias_rate == 0.0) return;
  auto& I = *impl_;
  for (std::size_t l = 0; l < I.caches.size(); ++l)
    balance_bias_update(I.bias[l].data(), I.caches[l].load_count.data(), I.n, m.n_experts, m.n_active,
                        spec_.options.bias_rate);
  synchronize();
}

template class Model<float>;
template class Model<double>;

}  // namespace muelab::models::cuda
