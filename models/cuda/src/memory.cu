// Device memory of the CUDA backend (kernels.hpp): the owning DeviceArray (instantiated for the
// element types the model and the tests use), synchronize(), and the pinned host buffer of the one
// asynchronous device→host copy per step. No kernels here; shared pieces: launch.cuh.
#include "launch.cuh"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace muelab::models::cuda {
using namespace detail;

template <class T>
DeviceArray<T>::DeviceArray(std::size_t count) : count_(count) {
  if (count > 0) check(cudaMalloc(reinterpret_cast<void**>(&data_), count * sizeof(T)), "cudaMalloc");
}
template <class T>
DeviceArray<T>& DeviceArray<T>::operator=(DeviceArray&& other) noexcept {
  if (this != &other) {
    if (data_) cudaFree(data_);
    data_ = other.data_;
    count_ = other.count_;
    other.data_ = nullptr;
    other.count_ = 0;
  }
  return *this;
}
template <class T>
DeviceArray<T>::~DeviceArray() {
  if (data_) cudaFree(data_);
}
template <class T>
void DeviceArray<T>::upload(const std::vector<T>& host) {
  if (host.size() != count_) throw CudaError("DeviceArray::upload: size mismatch");
  if (count_ > 0) check(cudaMemcpy(data_, host.data(), count_ * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy H2D");
}
template <class T>
std::vector<T> DeviceArray<T>::download() const {
  std::vector<T> host(count_);
  if (count_ > 0) check(cudaMemcpy(host.data(), data_, count_ * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
  return host;
}
template <class T>
void DeviceArray<T>::zero() {
  if (count_ > 0) check(cudaMemset(data_, 0, count_ * sizeof(T)), "cudaMemset");
}
template class DeviceArray<float>;
template class DeviceArray<double>;
template class DeviceArray<std::int64_t>;
template class DeviceArray<std::int32_t>;
template class DeviceArray<float*>;
template class DeviceArray<double*>;

void synchronize() {
  check(cudaGetLastError(), "kernel launch");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

PinnedDoubles::PinnedDoubles(std::size_t count) : count_(count) {
  if (count > 0) check(cudaMallocHost(reinterpret_cast<void**>(&data_), count * sizeof(double)), "cudaMallocHost");
}
PinnedDoubles& PinnedDoubles::operator=(PinnedDoubles&& other) noexcept {
  if (this != &other) {
    if (data_) cudaFreeHost(data_);
    data_ = other.data_;
    count_ = other.count_;
    other.data_ = nullptr;
    other.count_ = 0;
  }
  return *this;
}
PinnedDoubles::~PinnedDoubles() {
  if (data_) cudaFreeHost(data_);
}
const double* PinnedDoubles::fetch(const double* device, std::size_t count) {
  if (count > count_) throw CudaError("PinnedDoubles::fetch: more doubles than the buffer holds");
  check(cudaGetLastError(), "kernel launch");
  if (count > 0)
    check(cudaMemcpyAsync(data_, device, count * sizeof(double), cudaMemcpyDeviceToHost, nullptr), "cudaMemcpyAsync D2H");
  check(cudaStreamSynchronize(nullptr), "cudaStreamSynchronize");
  return data_;
}

}  // namespace muelab::models::cuda
