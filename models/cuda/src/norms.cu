// Norms and activations of the CUDA backend (kernels.hpp "norms, activations"): LayerNorm forward
// and backward (one thread per row) with the gain gradient (one thread per column), GELU and
// SwiGLU forward and backward (one thread per element). Shared pieces: launch.cuh.
#include "launch.cuh"

namespace muelab::models::cuda {
namespace sh = muelab::models::shared;
using namespace detail;

namespace {

template <class T>
__global__ void layer_norm_forward_kernel(const T* x, const T* gain, T m, T eps, index_t n, index_t d, T* hat, T* rstd,
                                          T* u) {
  const index_t i = global_index();
  if (i >= n) return;
  rstd[i] = sh::layer_norm_row_forward(x + i * d, gain, m, eps, d, hat + i * d, u + i * d);
}
template <class T>
__global__ void layer_norm_backward_kernel(const T* du, const T* hat, const T* rstd, const T* gain, T m, index_t n,
                                           index_t d, T* dx, bool accumulate) {
  const index_t i = global_index();
  if (i >= n) return;
  sh::layer_norm_row_backward(du + i * d, hat + i * d, rstd[i], gain, m, d, dx + i * d, accumulate);
}
template <class T>
__global__ void gain_gradient_kernel(const T* du, const T* hat, T m, index_t n, index_t d, T* dgain) {
  const index_t k = global_index();
  if (k >= d) return;
  T sum(0);
  for (index_t i = 0; i < n; ++i) sum += du[i * d + k] * hat[i * d + k];
  dgain[k] += m * sum;
}
template <class T>
__global__ void gelu_forward_kernel(const T* z, index_t count, T* act) {
  const index_t i = global_index();
  if (i < count) act[i] = sh::gelu(z[i]);
}
template <class T>
__global__ void gelu_backward_kernel(const T* z, const T* dact, index_t count, T* dz) {
  const index_t i = global_index();
  if (i < count) dz[i] = dact[i] * sh::gelu_derivative(z[i]);
}
template <class T>
__global__ void swiglu_forward_kernel(const T* zg, const T* zu, index_t count, T* act) {
  const index_t i = global_index();
  if (i < count) act[i] = sh::silu(zg[i]) * zu[i];
}
template <class T>
__global__ void swiglu_backward_kernel(const T* zg, const T* zu, const T* dact, index_t count, T* dzg, T* dzu) {
  const index_t i = global_index();
  if (i >= count) return;
  dzu[i] = dact[i] * sh::silu(zg[i]);
  dzg[i] = (dact[i] * zu[i]) * sh::silu_derivative(zg[i]);
}

}  // namespace

template <class T>
void layer_norm_forward(const T* x, const T* gain, T multiplier, T eps, index_t n, index_t d, T* hat, T* rstd, T* u) {
  launch("layer_norm_forward", n, layer_norm_forward_kernel<T>, x, gain, multiplier, eps, n, d, hat, rstd, u);
}
template <class T>
void layer_norm_backward(const T* du, const T* hat, const T* rstd, const T* gain, T multiplier, index_t n, index_t d,
                         T* dx, bool accumulate, T* dgain) {
  if (n == 0) return;
  launch("layer_norm_backward", n, layer_norm_backward_kernel<T>, du, hat, rstd, gain, multiplier, n, d, dx,
         accumulate);
  if (dgain)  // the guard above is on n, not d: as before, d == 0 is a launch error, not a no-op
    launch_grid("layer_norm gain gradient", blocks_for(d), kThreads, gain_gradient_kernel<T>, du, hat, multiplier, n, d,
                dgain);
}
template <class T>
void gelu_forward(const T* z, index_t count, T* act) {
  launch("gelu_forward", count, gelu_forward_kernel<T>, z, count, act);
}
template <class T>
void gelu_backward(const T* z, const T* dact, index_t count, T* dz) {
  launch("gelu_backward", count, gelu_backward_kernel<T>, z, dact, count, dz);
}
template <class T>
void swiglu_forward(const T* z_gate, const T* z_up, index_t count, T* act) {
  launch("swiglu_forward", count, swiglu_forward_kernel<T>, z_gate, z_up, count, act);
}
template <class T>
void swiglu_backward(const T* z_gate, const T* z_up, const T* dact, index_t count, T* dz_gate, T* dz_up) {
  launch("swiglu_backward", count, swiglu_backward_kernel<T>, z_gate, z_up, dact, count, dz_gate, dz_up);
}

// ---- explicit instantiations ----------------------------------------------------------------------------------
#define MUELAB_CUDA_INSTANTIATE(T)                                                                                 \
  template void layer_norm_forward<T>(const T*, const T*, T, T, index_t, index_t, T*, T*, T*);                     \
  template void layer_norm_backward<T>(const T*, const T*, const T*, const T*, T, index_t, index_t, T*, bool, T*); \
  template void gelu_forward<T>(const T*, index_t, T*);                                                            \
  template void gelu_backward<T>(const T*, const T*, index_t, T*);                                                 \
  template void swiglu_forward<T>(const T*, const T*, index_t, T*);                                                \
  template void swiglu_backward<T>(const T*, const T*, const T*, index_t, T*, T*);

MUELAB_CUDA_INSTANTIATE(float)
MUELAB_CUDA_INSTANTIATE(double)
#undef MUELAB_CUDA_INSTANTIATE

}  // namespace muelab::models::cuda
