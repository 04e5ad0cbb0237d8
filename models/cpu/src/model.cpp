// Forward and hand-written backward of the toy MoE transformer (docs/theory.md §2–§6). See model.hpp.
#include "muelab/models/cpu/model.hpp"

#include "muelab/models/cpu/allocator.hpp"
#include "muelab/models/cpu/vector_kernels.hpp"
#include "muelab/models/shared/kernels.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace muelab::models::cpu {

namespace {

template <class Scalar>
Scalar sc(double v) {
  return static_cast<Scalar>(v);
}

/// LayerNorm without bias: u = m·g ⊙ (x − μ)/√(var + eps), per row (shared::layer_norm_row_forward).
template <class Scalar>
void layer_norm_forward(const Matrix<Scalar>& x, const Matrix<Scalar>& gain, Scalar multiplier, Scalar eps,
                        Matrix<Scalar>& hat, Vector<Scalar>& rstd, Matrix<Scalar>& u) {
  const auto n = x.rows();
  const auto d = x.cols();
  hat.resize(n, d);
  u.resize(n, d);
  rstd.resize(n);
  vk::layer_norm_rows_forward(x.data(), gain.data(), multiplier, eps, n, d, hat.data(), rstd.data(), u.data());
}

template <class Scalar>
Matrix<Scalar> layer_norm_backward(const Matrix<Scalar>& du, const Matrix<Scalar>& hat, const Vector<Scalar>& rstd,
                                   const Matrix<Scalar>& gain, Scalar multiplier, Matrix<Scalar>* dgain) {
  const auto n = du.rows();
  const auto d = du.cols();
  Matrix<Scalar> dx(n, d);
  if (dgain) dgain->row(0) += multiplier * (du.cwiseProduct(hat)).colwise().sum();
  vk::layer_norm_rows_backward(du.data(), hat.data(), rstd.data(), gain.data(), multiplier, n, d, dx.data());
  return dx;
}

using shared::sigmoid;

double rms(const auto& m) {
  return m.size() == 0 ? 0.0 : std::sqrt(static_cast<double>(m.squaredNorm()) / static_cast<double>(m.size()));
}

}  // namespace

template <class Scalar>
Model<Scalar>::Model(ModelSpec spec) : spec_(std::move(spec)), layout_(make_parameter_layout(spec_)) {
  retain_freed_memory();
  for (const auto& info : layout_.parameters) {
    Parameter<Scalar> p;
    p.name = info.name;
    p.group = info.group;
    p.trainable = info.trainable;
    p.value = Matrix<Scalar>::Zero(info.rows, info.cols);
    p.grad = Matrix<Scalar>::Zero(info.rows, info.cols);
    if (p.group == ParameterGroup::norm) p.value.setOnes();
    parameters_.push_back(std::move(p));
  }
  const auto& m = spec_.model;
  balance_bias_.assign(static_cast<std::size_t>(m.n_layers),
                       std::vector<double>(m.is_moe() ? static_cast<std::size_t>(m.n_experts) : 0U, 0.0));
}

template <class Scalar>
void Model<Scalar>::initialize(std::uint64_t seed) {
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const auto values = initial_values(spec_, layout_, i, seed);
    auto& p = parameters_[i];
    for (Eigen::Index k = 0; k < p.value.size(); ++k) p.value.data()[k] = sc<Scalar>(values[static_cast<std::size_t>(k)]);
  }
  for (auto& b : balance_bias_) std::fill(b.begin(), b.end(), 0.0);
}

template <class Scalar>
Parameter<Scalar>& Model<Scalar>::parameter(const std::string& name) {
  for (auto& p : parameters_)
    if (p.name == name) return p;
  throw std::out_of_range("no parameter named " + name);
}

// ---- feed-forward unit (dense FFN, one routed expert, one shared expert) ----------------------
template <class Scalar>
void Model<Scalar>::ffn_unit_forward(ExpertCache& c, int up, int gate, int down, ParameterGroup up_g,
                                     ParameterGroup gate_g, ParameterGroup down_g) {
  const Scalar m_up = sc<Scalar>(spec_.mult(up_g));
  const Scalar m_down = sc<Scalar>(spec_.mult(down_g));
  matmul(c.z_up, c.x, false, parameters_[static_cast<std::size_t>(up)].value, false, m_up);
  c.act.resize(c.z_up.rows(), c.z_up.cols());
  if (gate >= 0) {  // SwiGLU: act = silu(z_gate) ⊙ z_up
    matmul(c.z_gate, c.x, false, parameters_[static_cast<std::size_t>(gate)].value, false, sc<Scalar>(spec_.mult(gate_g)));
    vk::swiglu_forward(c.z_gate.data(), c.z_up.data(), c.act.data(), c.act.size());
  } else {
    vk::gelu_forward(c.z_up.data(), c.act.data(), c.act.size());
  }
  matmul(c.y, c.act, false, parameters_[static_cast<std::size_t>(down)].value, false, m_down);
}

template <class Scalar>
Matrix<Scalar> Model<Scalar>::ffn_unit_backward(ExpertCache& c, const Matrix<Scalar>& dy, int up, int gate, int down,
                                                ParameterGroup up_g, ParameterGroup gate_g, ParameterGroup down_g) {
  const Scalar m_up = sc<Scalar>(spec_.mult(up_g));
  const Scalar m_down = sc<Scalar>(spec_.mult(down_g));
  auto& p_down = parameters_[static_cast<std::size_t>(down)];
  auto& p_up = parameters_[static_cast<std::size_t>(up)];
  matmul(p_down.grad, c.act, true, dy, false, m_down, Scalar(1));
  Matrix<Scalar> dact;
  matmul(dact, dy, false, p_down.value, true, m_down);
  Matrix<Scalar> dz_up(dact.rows(), dact.cols());
  Matrix<Scalar> dx;
  if (gate >= 0) {
    auto& p_gate = parameters_[static_cast<std::size_t>(gate)];
    const Scalar m_gate = sc<Scalar>(spec_.mult(gate_g));
    Matrix<Scalar> dz_gate(dact.rows(), dact.cols());
    vk::swiglu_backward(c.z_gate.data(), c.z_up.data(), dact.data(), dz_gate.data(), dz_up.data(), dact.size());
    matmul(p_gate.grad, c.x, true, dz_gate, false, m_gate, Scalar(1));
    matmul(dx, dz_gate, false, p_gate.value, true, m_gate);
    matmul(dx, dz_up, false, p_up.value, true, m_up, Scalar(1));
  } else {
    vk::gelu_backward(c.z_up.data(), dact.data(), dz_up.data(), dact.size());
    matmul(dx, dz_up, false, p_up.value, true, m_up);
  }
  matmul(p_up.grad, c.x, true, dz_up, false, m_up, Scalar(1));
  return dx;
}

// ---- attention ------------------------------------------------------------------------------------
template <class Scalar>
void Model<Scalar>::attention_forward(const BlockLayout& bi, BlockCache& c) {
  const auto d = spec_.model.d_model;
  const auto T = spec_.seq_len;
  const auto H = spec_.n_heads();
  const auto dh = spec_.model.d_head;
  const Scalar scale = sc<Scalar>(spec_.attention_logit_scale);
  matmul(c.qkv, c.u1, false, parameters_[static_cast<std::size_t>(bi.qkv)].value, false,
         sc<Scalar>(spec_.mult(ParameterGroup::attn_qkv)));
  c.probs.resize(batch_ * H * T, T);
  c.heads.resize(batch_ * T, d);
  const vk::HeadShape shape{T, dh, 3 * d, d};
  const auto pairs = batch_ * H;
#pragma omp parallel for schedule(static)
  for (std::int64_t bh = 0; bh < pairs; ++bh) {  // one causal head per (sequence, head)
    const auto b = bh / H;
    const auto h = bh % H;
    const Scalar* base = c.qkv.data() + b * T * 3 * d + h * dh;
    vk::attention_head_forward(base, base + d, base + 2 * d, c.heads.data() + b * T * d + h * dh,
                               c.probs.data() + bh * T * T, shape, scale);
  }
}

template <class Scalar>
Matrix<Scalar> Model<Scalar>::attention_backward(const BlockLayout& bi, BlockCache& c, const Matrix<Scalar>& d_heads) {
  const auto d = spec_.model.d_model;
  const auto T = spec_.seq_len;
  const auto H = spec_.n_heads();
  const auto dh = spec_.model.d_head;
  const Scalar scale = sc<Scalar>(spec_.attention_logit_scale);
  Matrix<Scalar> dqkv(batch_ * T, 3 * d);
  const vk::HeadShape shape{T, dh, 3 * d, d};
  const auto pairs = batch_ * H;
#pragma omp parallel for schedule(static)
  for (std::int64_t bh = 0; bh < pairs; ++bh) {
    const auto b = bh / H;
    const auto h = bh % H;
    const Scalar* base = c.qkv.data() + b * T * 3 * d + h * dh;
    Scalar* dbase = dqkv.data() + b * T * 3 * d + h * dh;
    vk::attention_head_backward(base, base + d, base + 2 * d, d_heads.data() + b * T * d + h * dh,
                                c.probs.data() + bh * T * T, dbase, dbase + d, dbase + 2 * d, shape, scale);
  }
  Matrix<Scalar> du;
  auto& p_qkv = parameters_[static_cast<std::size_t>(bi.qkv)];
  const Scalar m_qkv = sc<Scalar>(spec_.mult(ParameterGroup::attn_qkv));
  matmul(p_qkv.grad, c.u1, true, dqkv, false, m_qkv, Scalar(1));
  matmul(du, dqkv, false, p_qkv.value, true, m_qkv);
  return du;
}

// ---- MoE layer (§5, §6) ---------------------------------------------------------------------------
template <class Scalar>
void Model<Scalar>::moe_forward(std::size_t l, BlockCache& c) {
  const auto& m = spec_.model;
  const auto& bi = layout_.blocks[l];
  const auto n = c.u2.rows();
  const auto d = m.d_model;
  const auto N = m.n_experts;
  const auto a = m.n_active;
  const auto groups = m.n_groups;
  const auto per_group = a / groups;
  Matrix<Scalar> scores;
  matmul(scores, c.u2, false, parameters_[static_cast<std::size_t>(bi.router)].value, false,
         sc<Scalar>(spec_.mult(ParameterGroup::router)));
  auto& p = c.router_probs;
  if (m.router == theory::RouterKind::sigmoid) {
    p = scores.unaryExpr([](Scalar z) { return sigmoid(z); });
  } else {
    p.resize(n, N);
    for (Eigen::Index t = 0; t < n; ++t) shared::softmax_row(scores.row(t).data(), N, p.row(t).data());
  }
  // Top-a selection on p + b (the balance bias only steers selection, §6), a/g inside each group;
  // ties go to the lower expert index (deterministic).
  const auto& bias = balance_bias_[l];
  c.choice.assign(static_cast<std::size_t>(n * a), 0);
  c.gate.assign(static_cast<std::size_t>(n * a), Scalar(0));
  c.kept.assign(static_cast<std::size_t>(n * a), 1);
  for (Eigen::Index t = 0; t < n; ++t) {
    std::int64_t* choice = c.choice.data() + t * a;
    shared::top_a_row(p.row(t).data(), bias.data(), N, groups, per_group, choice);
    shared::gates_row(p.row(t).data(), choice, a, spec_.normalize_gates, c.gate.data() + t * a);
  }
  // Group the tokens by expert (token order inside an expert), with the optional capacity limit.
  std::vector<std::int64_t> count(static_cast<std::size_t>(N), 0);
  const auto capacity = spec_.options.capacity_factor > 0.0
                            ? static_cast<std::int64_t>(std::ceil(spec_.options.capacity_factor * static_cast<double>(n * a) /
                                                                  static_cast<double>(N)))
                            : n * a;
  c.experts.resize(static_cast<std::size_t>(N));  // buffers kept across steps; row lists refilled below
  for (auto& ec : c.experts) {
    ec.rows.clear();
    ec.slots.clear();
  }
  for (Eigen::Index t = 0; t < n; ++t)
    for (std::int64_t j = 0; j < a; ++j) {
      const auto e = c.choice[static_cast<std::size_t>(t * a + j)];
      auto& cnt = count[static_cast<std::size_t>(e)];
      if (cnt >= capacity) {
        c.kept[static_cast<std::size_t>(t * a + j)] = 0;
      } else {
        c.experts[static_cast<std::size_t>(e)].rows.push_back(t);
        c.experts[static_cast<std::size_t>(e)].slots.push_back(j);
      }
      ++cnt;
    }
  std::vector<double> load(static_cast<std::size_t>(N));
  c.load_fraction.resize(static_cast<std::size_t>(N));
  for (std::int64_t e = 0; e < N; ++e) {
    load[static_cast<std::size_t>(e)] = shared::expert_load(count[static_cast<std::size_t>(e)], n);
    c.load_fraction[static_cast<std::size_t>(e)] = shared::expert_load_fraction(count[static_cast<std::size_t>(e)], n, a);
  }
  last_load_.push_back(std::move(load));

  c.ffn_out = Matrix<Scalar>::Zero(n, d);
  const Scalar route = sc<Scalar>(spec_.route_scale_routed);
  for (std::int64_t e = 0; e < N; ++e) {  // one GEMM chain per expert, weighted scatter back
    auto& ec = c.experts[static_cast<std::size_t>(e)];
    const auto rows = static_cast<Eigen::Index>(ec.rows.size());
    ec.x.resize(rows, d);
    for (Eigen::Index r = 0; r < rows; ++r) ec.x.row(r) = c.u2.row(ec.rows[static_cast<std::size_t>(r)]);
    const int gate = m.has_gate() ? bi.expert_gate[static_cast<std::size_t>(e)] : -1;
    ffn_unit_forward(ec, bi.expert_up[static_cast<std::size_t>(e)], gate, bi.expert_down[static_cast<std::size_t>(e)],
                     ParameterGroup::expert_up, ParameterGroup::expert_gate, ParameterGroup::expert_down);
    for (Eigen::Index r = 0; r < rows; ++r) {
      const auto t = ec.rows[static_cast<std::size_t>(r)];
      c.ffn_out.row(t) += (route * c.gate[static_cast<std::size_t>(t * a + ec.slots[static_cast<std::size_t>(r)])]) * ec.y.row(r);
    }
  }
  c.shared.resize(static_cast<std::size_t>(m.n_shared));
  const Scalar route_shared = sc<Scalar>(spec_.route_scale_shared);
  for (std::int64_t s = 0; s < m.n_shared; ++s) {
    auto& ec = c.shared[static_cast<std::size_t>(s)];
    ec.x = c.u2;
    const int gate = m.has_gate() ? bi.shared_gate[static_cast<std::size_t>(s)] : -1;
    ffn_unit_forward(ec, bi.shared_up[static_cast<std::size_t>(s)], gate, bi.shared_down[static_cast<std::size_t>(s)],
                     ParameterGroup::shared_up, ParameterGroup::shared_gate, ParameterGroup::shared_down);
    c.ffn_out += route_shared * ec.y;
  }
}

template <class Scalar>
Matrix<Scalar> Model<Scalar>::moe_backward(std::size_t l, BlockCache& c, const Matrix<Scalar>& df) {
  const auto& m = spec_.model;
  const auto& bi = layout_.blocks[l];
  const auto n = c.u2.rows();
  const auto N = m.n_experts;
  const auto a = m.n_active;
  const Scalar route = sc<Scalar>(spec_.route_scale_routed);
  Matrix<Scalar> du = Matrix<Scalar>::Zero(n, m.d_model);
  std::vector<Scalar> dgate(static_cast<std::size_t>(n * a), Scalar(0));
  for (std::int64_t e = 0; e < N; ++e) {
    auto& ec = c.experts[static_cast<std::size_t>(e)];
    const auto rows = static_cast<Eigen::Index>(ec.rows.size());
    Matrix<Scalar> dy(rows, m.d_model);
    for (Eigen::Index r = 0; r < rows; ++r) {
      const auto t = ec.rows[static_cast<std::size_t>(r)];
      const auto idx = static_cast<std::size_t>(t * a + ec.slots[static_cast<std::size_t>(r)]);
      dy.row(r) = (route * c.gate[idx]) * df.row(t);
      dgate[idx] = route * df.row(t).dot(ec.y.row(r));
    }
    const int gate = m.has_gate() ? bi.expert_gate[static_cast<std::size_t>(e)] : -1;
    const Matrix<Scalar> dx = ffn_unit_backward(ec, dy, bi.expert_up[static_cast<std::size_t>(e)], gate,
                                                bi.expert_down[static_cast<std::size_t>(e)], ParameterGroup::expert_up,
                                                ParameterGroup::expert_gate, ParameterGroup::expert_down);
    for (Eigen::Index r = 0; r < rows; ++r) du.row(ec.rows[static_cast<std::size_t>(r)]) += dx.row(r);
  }
  const Scalar route_shared = sc<Scalar>(spec_.route_scale_shared);
  for (std::int64_t s = 0; s < m.n_shared; ++s) {
    auto& ec = c.shared[static_cast<std::size_t>(s)];
    const int gate = m.has_gate() ? bi.shared_gate[static_cast<std::size_t>(s)] : -1;
    const Matrix<Scalar> dy = route_shared * df;
    du += ffn_unit_backward(ec, dy, bi.shared_up[static_cast<std::size_t>(s)], gate,
                            bi.shared_down[static_cast<std::size_t>(s)], ParameterGroup::shared_up,
                            ParameterGroup::shared_gate, ParameterGroup::shared_down);
  }
  // Gates → router probabilities p (n × N) → scores.
  const auto& p = c.router_probs;
  Matrix<Scalar> dp = Matrix<Scalar>::Zero(n, N);
  const double aux = spec_.options.aux_loss_coef;
  for (Eigen::Index t = 0; t < n; ++t) {
    const auto base = static_cast<std::size_t>(t * a);
    // π_j = p_j / Σ_active p: dp_j = (dπ_j − Σ_k dπ_k π_k) / Σ_active p (or dp_j = dπ_j for raw gates)
    shared::gates_row_backward(p.row(t).data(), c.choice.data() + base, c.gate.data() + base, dgate.data() + base, a,
                               spec_.normalize_gates, dp.row(t).data());
    if (aux > 0.0)  // aux = coef·N·Σ_i f_i·mean_t p̂_ti, p̂ = p / Σ_all p (f_i held constant)
      shared::aux_balance_row_backward(p.row(t).data(), shared::row_sum(p.row(t).data(), N), c.load_fraction.data(), N,
                                       n, aux, dp.row(t).data());
  }
  Matrix<Scalar> ds(n, N);
  if (m.router == theory::RouterKind::sigmoid) {
    ds = dp.cwiseProduct(p.unaryExpr([](Scalar x) { return x * (Scalar(1) - x); }));
  } else {
    for (Eigen::Index t = 0; t < n; ++t) shared::softmax_row_backward(p.row(t).data(), dp.row(t).data(), N, Scalar(1), ds.row(t).data());
  }
  auto& p_router = parameters_[static_cast<std::size_t>(bi.router)];
  const Scalar m_router = sc<Scalar>(spec_.mult(ParameterGroup::router));
  matmul(p_router.grad, c.u2, true, ds, false, m_router, Scalar(1));
  matmul(du, ds, false, p_router.value, true, m_router, Scalar(1));
  return du;
}

// ---- whole model ----------------------------------------------------------------------------------
template <class Scalar>
ForwardStats Model<Scalar>::forward(const std::vector<std::int32_t>& tokens, const std::vector<std::int32_t>& targets,
                                    std::int64_t batch) {
  const auto& m = spec_.model;
  const auto T = spec_.seq_len;
  const auto d = m.d_model;
  const auto n = batch * T;
  if (static_cast<std::int64_t>(tokens.size()) != n || static_cast<std::int64_t>(targets.size()) != n)
    throw std::invalid_argument("forward: tokens and targets must hold batch × seq_len entries");
  batch_ = batch;
  tokens_ = tokens;
  targets_ = targets;
  last_load_.clear();
  ForwardStats stats;
  const Scalar m_emb = sc<Scalar>(spec_.mult(ParameterGroup::embedding));
  const Scalar m_norm = sc<Scalar>(spec_.mult(ParameterGroup::norm));
  const Scalar eps = sc<Scalar>(spec_.options.norm_eps);
  const Scalar residual = sc<Scalar>(spec_.residual_multiplier);
  const auto& tok = parameters_[static_cast<std::size_t>(layout_.token_embedding)].value;
  const auto& pos = parameters_[static_cast<std::size_t>(layout_.position_embedding)].value;
  Matrix<Scalar> x(n, d);
  for (std::int64_t i = 0; i < n; ++i) x.row(i) = m_emb * (tok.row(tokens[static_cast<std::size_t>(i)]) + pos.row(i % T));
  caches_.resize(static_cast<std::size_t>(m.n_layers));  // buffers kept across steps (no per-step allocation)
  double aux_total = 0.0;
  for (std::size_t l = 0; l < layout_.blocks.size(); ++l) {
    const auto& bi = layout_.blocks[l];
    auto& c = caches_[l];
    layer_norm_forward(x, parameters_[static_cast<std::size_t>(bi.ln1)].value, m_norm, eps, c.ln1_hat, c.ln1_rstd, c.u1);
    attention_forward(bi, c);
    Matrix<Scalar> attn_out;
    matmul(attn_out, c.heads, false, parameters_[static_cast<std::size_t>(bi.out)].value, false,
           sc<Scalar>(spec_.mult(ParameterGroup::attn_out)));
    x += residual * attn_out;
    layer_norm_forward(x, parameters_[static_cast<std::size_t>(bi.ln2)].value, m_norm, eps, c.ln2_hat, c.ln2_rstd, c.u2);
    if (m.is_moe()) {
      moe_forward(l, c);
      if (spec_.options.aux_loss_coef > 0.0) {  // shared::aux_balance_loss, the CUDA backend's arithmetic
        const auto& p = c.router_probs;
        std::vector<Scalar> total(static_cast<std::size_t>(n));
        for (Eigen::Index t = 0; t < n; ++t) total[static_cast<std::size_t>(t)] = shared::row_sum(p.row(t).data(), m.n_experts);
        std::vector<double> column_sum(static_cast<std::size_t>(m.n_experts));
        for (std::int64_t e = 0; e < m.n_experts; ++e)
          column_sum[static_cast<std::size_t>(e)] =
              shared::normalized_probability_column_sum(p.data(), total.data(), n, m.n_experts, e);
        aux_total += shared::aux_balance_loss(c.load_fraction.data(), column_sum.data(), m.n_experts, n,
                                              spec_.options.aux_loss_coef);
      }
    } else {
      c.dense.x = c.u2;
      ffn_unit_forward(c.dense, bi.up, bi.gate, bi.down, ParameterGroup::ffn_up, ParameterGroup::ffn_gate,
                       ParameterGroup::ffn_down);
      c.ffn_out = c.dense.y;
    }
    stats.ffn_rms.push_back(rms(c.ffn_out));
    x += residual * c.ffn_out;
    stats.residual_rms.push_back(rms(x));
  }
  layer_norm_forward(x, parameters_[static_cast<std::size_t>(layout_.final_norm)].value, m_norm, eps, final_hat_, final_rstd_,
                     final_u_);
  matmul(logits_, final_u_, false, parameters_[static_cast<std::size_t>(layout_.head)].value, false,
         sc<Scalar>(spec_.mult(ParameterGroup::head)));
  probs_.resize(n, spec_.vocab_size);
  const double ce = vk::cross_entropy_rows(logits_.data(), n, spec_.vocab_size, targets.data(), probs_.data());
  stats.ce_loss = ce / static_cast<double>(n);
  stats.loss = stats.ce_loss + aux_total;
  stats.load = last_load_;
  return stats;
}

template <class Scalar>
void Model<Scalar>::backward() {
  const auto& m = spec_.model;
  const auto T = spec_.seq_len;
  const auto n = batch_ * T;
  for (auto& p : parameters_) p.grad.setZero();
  const Scalar m_norm = sc<Scalar>(spec_.mult(ParameterGroup::norm));
  const Scalar residual = sc<Scalar>(spec_.residual_multiplier);
  const auto grad_of = [&](int index) -> Matrix<Scalar>* {
    auto& p = parameters_[static_cast<std::size_t>(index)];
    return p.trainable ? &p.grad : nullptr;
  };
  Matrix<Scalar> dlogits = probs_;
  for (std::int64_t i = 0; i < n; ++i) dlogits(i, targets_[static_cast<std::size_t>(i)]) -= Scalar(1);
  dlogits /= static_cast<Scalar>(n);
  auto& head = parameters_[static_cast<std::size_t>(layout_.head)];
  const Scalar m_head = sc<Scalar>(spec_.mult(ParameterGroup::head));
  matmul(head.grad, final_u_, true, dlogits, false, m_head, Scalar(1));
  Matrix<Scalar> du;
  matmul(du, dlogits, false, head.value, true, m_head);
  Matrix<Scalar> dx = layer_norm_backward(du, final_hat_, final_rstd_, parameters_[static_cast<std::size_t>(layout_.final_norm)].value,
                                          m_norm, grad_of(layout_.final_norm));
  for (std::size_t li = layout_.blocks.size(); li-- > 0;) {
    const auto& bi = layout_.blocks[li];
    auto& c = caches_[li];
    const Matrix<Scalar> df = residual * dx;  // x_out = x_mid + r·f
    Matrix<Scalar> du2;
    if (m.is_moe()) {
      du2 = moe_backward(li, c, df);
    } else {
      du2 = ffn_unit_backward(c.dense, df, bi.up, bi.gate, bi.down, ParameterGroup::ffn_up, ParameterGroup::ffn_gate,
                              ParameterGroup::ffn_down);
    }
    dx += layer_norm_backward(du2, c.ln2_hat, c.ln2_rstd, parameters_[static_cast<std::size_t>(bi.ln2)].value, m_norm,
                              grad_of(bi.ln2));
    const Matrix<Scalar> dattn = residual * dx;  // x_mid = x_in + r·attn
    auto& p_out = parameters_[static_cast<std::size_t>(bi.out)];
    const Scalar m_out = sc<Scalar>(spec_.mult(ParameterGroup::attn_out));
    matmul(p_out.grad, c.heads, true, dattn, false, m_out, Scalar(1));
    Matrix<Scalar> dheads;
    matmul(dheads, dattn, false, p_out.value, true, m_out);
    const Matrix<Scalar> du1 = attention_backward(bi, c, dheads);
    dx += layer_norm_backward(du1, c.ln1_hat, c.ln1_rstd, parameters_[static_cast<std::size_t>(bi.ln1)].value, m_norm,
                              grad_of(bi.ln1));
  }
  const Scalar m_emb = sc<Scalar>(spec_.mult(ParameterGroup::embedding));
  auto& tok = parameters_[static_cast<std::size_t>(layout_.token_embedding)];
  auto& pos = parameters_[static_cast<std::size_t>(layout_.position_embedding)];
  for (std::int64_t i = 0; i < n; ++i) {  // sequential scatter-add: deterministic
    tok.grad.row(tokens_[static_cast<std::size_t>(i)]) += m_emb * dx.row(i);
    pos.grad.row(i % T) += m_emb * dx.row(i);
  }
  for (auto& p : parameters_)
    if (!p.trainable) p.grad.setZero();
}

template <class Scalar>
void Model<Scalar>::update_balance_bias() {
  const auto& m = spec_.model;
  if (!m.is_moe() || spec_.options.bias_rate == 0.0) return;
  const double kappa = static_cast<double>(m.n_active) / static_cast<double>(m.n_experts);
  for (std::size_t l = 0; l < last_load_.size(); ++l)
    for (std::size_t e = 0; e < last_load_[l].size(); ++e)
      balance_bias_[l][e] = shared::balance_bias_update(balance_bias_[l][e], spec_.options.bias_rate, last_load_[l][e], kappa);
}

template class Model<float>;
template class Model<double>;

}  // namespace muelab::models::cpu
