// Optimizer stage of the CUDA backend (kernels.hpp): axpy and scaled copy, the fixed-order sums of
// squares (sum, RMS, global gradient norm), the step guard that skips a non-finite step on the
// device, and the Adam/AdamW and SGD updates. Shared pieces: launch.cuh.
#include "launch.cuh"

#include <cmath>

namespace muelab::models::cuda {
namespace sh = muelab::models::shared;
using namespace detail;

namespace {

template <class T>
__global__ void axpy_kernel(T alpha, const T* x, index_t count, T* y) {
  const index_t i = global_index();
  if (i < count) y[i] += alpha * x[i];
}
template <class T>
__global__ void scaled_copy_kernel(T alpha, const T* x, index_t count, T* y) {
  const index_t i = global_index();
  if (i < count) y[i] = alpha * x[i];
}
template <class T>
__global__ void partial_squares_kernel(const T* x, index_t count, double* partials) {
  const index_t lane = global_index();
  if (lane >= 256) return;
  double sum = 0.0;
  for (index_t i = lane; i < count; i += 256) sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  partials[lane] = sum;
}
__global__ void add_partials_kernel(const double* partials, double* result) {
  if (global_index() != 0) return;
  double sum = 0.0;
  for (int i = 0; i < 256; ++i) sum += partials[i];
  *result = sum;
}
__global__ void rms_finish_kernel(const double* partials, index_t count, double* result) {
  if (global_index() != 0) return;
  double sum = 0.0;
  for (int i = 0; i < 256; ++i) sum += partials[i];
  *result = sqrt(sum / static_cast<double>(count));
}
// Global gradient norm: kNormLanes strided partials per tensor (blockIdx.y = tensor), then per
// tensor their sum in lane order, then the tensors in order.
constexpr index_t kNormLanes = kGlobalNormLanes;
template <class T>
__global__ void multi_partial_squares_kernel(const T* const* tensors, const index_t* sizes, double* partials) {
  const index_t lane = global_index();
  if (lane >= kNormLanes) return;
  const auto tensor = static_cast<index_t>(blockIdx.y);
  const T* x = tensors[tensor];
  const index_t count = sizes[tensor];
  double sum = 0.0;
  for (index_t i = lane; i < count; i += kNormLanes) sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  partials[tensor * kNormLanes + lane] = sum;
}
__global__ void per_tensor_sum_kernel(const double* partials, index_t tensors, double* per_tensor) {
  const index_t tensor = global_index();
  if (tensor >= tensors) return;
  double sum = 0.0;
  for (index_t i = 0; i < kNormLanes; ++i) sum += partials[tensor * kNormLanes + i];
  per_tensor[tensor] = sum;
}
__global__ void norm_finish_kernel(const double* per_tensor, index_t tensors, double* result) {
  if (global_index() != 0) return;
  double sum = 0.0;
  for (index_t i = 0; i < tensors; ++i) sum += per_tensor[i];
  *result = sqrt(sum);
}
__global__ void step_guard_kernel(const double* loss, const double* grad_norm, double step, double* step_ok,
                                  double* first_bad_step) {
  if (global_index() != 0) return;
  const bool earlier = *first_bad_step >= 0.0;
  const bool finite = sh::is_finite(*loss) && sh::is_finite(*grad_norm);
  *step_ok = finite && !earlier ? 1.0 : 0.0;
  if (!finite && !earlier) *first_bad_step = step;
}
template <class T>
__global__ void adam_kernel(T* theta, T* m, T* v, const T* g, index_t count, sh::AdamStep step, const double* step_ok) {
  const index_t i = global_index();
  if (i >= count || (step_ok && *step_ok == 0.0)) return;
  static_cast<void>(sh::adam_element(theta[i], m[i], v[i], g[i], step));
}
template <class T>
__global__ void sgd_kernel(T* theta, T* buf, const T* g, index_t count, double lr, double wd, double momentum,
                           const double* step_ok) {
  const index_t i = global_index();
  if (i >= count || (step_ok && *step_ok == 0.0)) return;
  static_cast<void>(sh::sgd_element(theta[i], buf[i], g[i], lr, wd, momentum));
}

}  // namespace

template <class T>
void axpy(T alpha, const T* x, index_t count, T* y) {
  launch("axpy", count, axpy_kernel<T>, alpha, x, count, y);
}
template <class T>
void scaled_copy(T alpha, const T* x, index_t count, T* y) {
  launch("scaled_copy", count, scaled_copy_kernel<T>, alpha, x, count, y);
}
template <class T>
void sum_of_squares(const T* x, index_t count, double* partials256, double* result) {
  launch_grid("sum_of_squares: partials", 2, kThreads, partial_squares_kernel<T>, x, count, partials256);
  launch_grid("sum_of_squares: total", 1, 1, add_partials_kernel, partials256, result);
}
template <class T>
void root_mean_square(const T* x, index_t count, double* partials256, double* result) {
  launch_grid("root_mean_square: partials", 2, kThreads, partial_squares_kernel<T>, x, count, partials256);
  launch_grid("root_mean_square: total", 1, 1, rms_finish_kernel, partials256, count, result);
}
template <class T>
void global_norm(const T* const* tensors, const index_t* sizes, index_t tensors_count, double* partials,
                 double* per_tensor, double* result) {
  if (tensors_count > 0) {
    const dim3 grid(static_cast<unsigned>(kNormLanes / kThreads), static_cast<unsigned>(tensors_count));
    launch_grid("global_norm: partials", grid, kThreads, multi_partial_squares_kernel<T>, tensors, sizes, partials);
    launch("global_norm: per tensor", tensors_count, per_tensor_sum_kernel, partials, tensors_count, per_tensor);
  }
  launch_grid("global_norm: total", 1, 1, norm_finish_kernel, per_tensor, tensors_count, result);
}
void step_guard(const double* loss, const double* grad_norm, double step, double* step_ok, double* first_bad_step) {
  launch_grid("step_guard", 1, 1, step_guard_kernel, loss, grad_norm, step, step_ok, first_bad_step);
}
template <class T>
void adam_update(T* theta, T* m, T* v, const T* grad, index_t count, const shared::AdamStep& step,
                 const double* step_ok) {
  launch("adam_update", count, adam_kernel<T>, theta, m, v, grad, count, step, step_ok);
}
template <class T>
void sgd_update(T* theta, T* buf, const T* grad, index_t count, double lr, double weight_decay, double momentum,
                const double* step_ok) {
  launch("sgd_update", count, sgd_kernel<T>, theta, buf, grad, count, lr, weight_decay, momentum, step_ok);
}

// ---- explicit instantiations ----------------------------------------------------------------------------------
#define MUELAB_CUDA_INSTANTIATE(T)                                                                     \
  template void axpy<T>(T, const T*, index_t, T*);                                                     \
  template void scaled_copy<T>(T, const T*, index_t, T*);                                              \
  template void sum_of_squares<T>(const T*, index_t, double*, double*);                                \
  template void root_mean_square<T>(const T*, index_t, double*, double*);                              \
  template void global_norm<T>(const T* const*, const index_t*, index_t, double*, double*, double*);   \
  template void adam_update<T>(T*, T*, T*, const T*, index_t, const shared::AdamStep&, const double*); \
  template void sgd_update<T>(T*, T*, const T*, index_t, double, double, double, const double*);

MUELAB_CUDA_INSTANTIATE(float)
MUELAB_CUDA_INSTANTIATE(double)
#undef MUELAB_CUDA_INSTANTIATE

}  // namespace muelab::models::cuda
