// Router stage of the CUDA backend (kernels.hpp §5, §6): router probabilities and their backward,
// top-a gates and the gates' backward (one thread per token), the auxiliary balance loss forward
// and backward, the balance-bias update and the per-expert loads. The permutation by expert that
// follows the gates is in permutation.cu; shared pieces: launch.cuh.
#include "launch.cuh"

namespace muelab::models::cuda {
namespace sh = muelab::models::shared;
using namespace detail;

namespace {

template <class T>
__global__ void router_probabilities_kernel(const T* scores, index_t n, index_t N, bool sigmoid_router, T* p) {
  const index_t t = global_index();
  if (t >= n) return;
  if (sigmoid_router) {
    for (index_t e = 0; e < N; ++e) p[t * N + e] = sh::sigmoid(scores[t * N + e]);
  } else {
    sh::softmax_row(scores + t * N, N, p + t * N);
  }
}
template <class T>
__global__ void router_backward_kernel(const T* p, const T* dp, index_t n, index_t N, bool sigmoid_router, T* ds) {
  const index_t t = global_index();
  if (t >= n) return;
  if (sigmoid_router) {
    for (index_t e = 0; e < N; ++e) ds[t * N + e] = dp[t * N + e] * (p[t * N + e] * (T(1) - p[t * N + e]));
  } else {
    sh::softmax_row_backward(p + t * N, dp + t * N, N, T(1), ds + t * N);
  }
}
template <class T>
__global__ void top_a_gates_kernel(const T* p, const double* bias, index_t n, index_t N, index_t groups,
                                   index_t per_group, bool normalize, index_t* choice, T* gate) {
  const index_t t = global_index();
  if (t >= n) return;
  const index_t a = groups * per_group;
  sh::top_a_row(p + t * N, bias, N, groups, per_group, choice + t * a);
  sh::gates_row(p + t * N, choice + t * a, a, normalize, gate + t * a);
}
template <class T>
__global__ void gates_backward_kernel(const T* p, const index_t* choice, const T* gate, const T* dgate, index_t n,
                                      index_t N, index_t a, bool normalize, T* dp) {
  const index_t t = global_index();
  if (t >= n) return;
  for (index_t e = 0; e < N; ++e) dp[t * N + e] = T(0);
  sh::gates_row_backward(p + t * N, choice + t * a, gate + t * a, dgate + t * a, a, normalize, dp + t * N);
}

// Auxiliary balance loss (§6): per-row totals, per-expert f and Σ_t p̂, the loss, the row backward.
template <class T>
__global__ void row_total_kernel(const T* p, index_t n, index_t N, T* total) {
  const index_t t = global_index();
  if (t < n) total[t] = sh::row_sum(p + t * N, N);
}
template <class T>
__global__ void aux_columns_kernel(const T* p, const T* total, const index_t* load_count, index_t n, index_t N, index_t a,
                                   double* fraction, double* column) {
  const index_t e = global_index();
  if (e >= N) return;
  fraction[e] = sh::expert_load_fraction(load_count[e], n, a);
  column[e] = sh::normalized_probability_column_sum(p, total, n, N, e);
}
__global__ void aux_loss_kernel(const double* fraction, const double* column, index_t N, index_t n, double coef,
                                double* aux) {
  if (global_index() == 0) *aux = sh::aux_balance_loss(fraction, column, N, n, coef);
}
template <class T>
__global__ void aux_backward_kernel(const T* p, const T* total, const double* fraction, index_t n, index_t N, double coef,
                                    T* dp) {
  const index_t t = global_index();
  if (t < n) sh::aux_balance_row_backward(p + t * N, total[t], fraction, N, n, coef, dp + t * N);
}
__global__ void balance_bias_kernel(double* bias, const index_t* load_count, index_t n, index_t N, index_t a,
                                    double rate, const double* step_ok) {
  const index_t e = global_index();
  if (e >= N || (step_ok && *step_ok == 0.0)) return;
  const double kappa = static_cast<double>(a) / static_cast<double>(N);
  bias[e] = sh::balance_bias_update(bias[e], rate, sh::expert_load(load_count[e], n), kappa);
}
__global__ void expert_loads_kernel(const index_t* load_count, index_t n, index_t N, double* load) {
  const index_t e = global_index();
  if (e < N) load[e] = sh::expert_load(load_count[e], n);
}

}  // namespace

template <class T>
void router_probabilities(const T* scores, index_t n, index_t n_experts, bool sigmoid_router, T* p) {
  launch("router_probabilities", n, router_probabilities_kernel<T>, scores, n, n_experts, sigmoid_router, p);
}
template <class T>
void router_backward(const T* p, const T* dp, index_t n, index_t n_experts, bool sigmoid_router, T* ds) {
  launch("router_backward", n, router_backward_kernel<T>, p, dp, n, n_experts, sigmoid_router, ds);
}
template <class T>
void top_a_gates(const T* p, const double* bias, index_t n, index_t n_experts, index_t groups, index_t per_group,
                 bool normalize, index_t* choice, T* gate) {
  launch("top_a_gates", n, top_a_gates_kernel<T>, p, bias, n, n_experts, groups, per_group, normalize, choice, gate);
}
template <class T>
void gates_backward(const T* p, const index_t* choice, const T* gate, const T* dgate, index_t n, index_t n_experts,
                    index_t a, bool normalize, T* dp) {
  launch("gates_backward", n, gates_backward_kernel<T>, p, choice, gate, dgate, n, n_experts, a, normalize, dp);
}
template <class T>
void aux_balance_forward(const T* p, const index_t* load_count, index_t n, index_t n_experts, index_t a, double coef,
                         T* row_total, double* load_fraction, double* column_sum, double* aux) {
  if (n == 0 || n_experts == 0) return;
  launch("aux_balance_forward: row totals", n, row_total_kernel<T>, p, n, n_experts, row_total);
  launch("aux_balance_forward: columns", n_experts, aux_columns_kernel<T>, p, row_total, load_count, n, n_experts, a,
         load_fraction, column_sum);
  launch_grid("aux_balance_forward: loss", 1, 1, aux_loss_kernel, load_fraction, column_sum, n_experts, n, coef, aux);
}
template <class T>
void aux_balance_backward(const T* p, const T* row_total, const double* load_fraction, index_t n, index_t n_experts,
                          double coef, T* dp) {
  launch("aux_balance_backward", n, aux_backward_kernel<T>, p, row_total, load_fraction, n, n_experts, coef, dp);
}
void balance_bias_update(double* bias, const index_t* load_count, index_t n, index_t n_experts, index_t a, double rate,
                         const double* step_ok) {
  launch("balance_bias_update", n_experts, balance_bias_kernel, bias, load_count, n, n_experts, a, rate, step_ok);
}
void expert_loads(const index_t* load_count, index_t n, index_t n_experts, double* load) {
  launch("expert_loads", n_experts, expert_loads_kernel, load_count, n, n_experts, load);
}

// ---- explicit instantiations ----------------------------------------------------------------------------------
#define MUELAB_CUDA_INSTANTIATE(T)                                                                                    \
  template void router_probabilities<T>(const T*, index_t, index_t, bool, T*);                                        \
  template void router_backward<T>(const T*, const T*, index_t, index_t, bool, T*);                                   \
  template void top_a_gates<T>(const T*, const double*, index_t, index_t, index_t, index_t, bool, index_t*, T*);      \
  template void gates_backward<T>(const T*, const index_t*, const T*, const T*, index_t, index_t, index_t, bool, T*); \
  template void aux_balance_forward<T>(const T*, const index_t*, index_t, index_t, index_t, double, T*, double*,      \
                                       double*, double*);                                                             \
  template void aux_balance_backward<T>(const T*, const T*, const double*, index_t, index_t, double, T*);

MUELAB_CUDA_INSTANTIATE(float)
MUELAB_CUDA_INSTANTIATE(double)
#undef MUELAB_CUDA_INSTANTIATE

}  // namespace muelab::models::cuda
