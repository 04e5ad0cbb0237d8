// GPU benchmark of the CUDA backend: tokens/s and model FLOP utilization (MFU) of whole training
// steps of the CUDA model (medium: d=512, L=4, N=16, a=2; large: d=1024, L=8, N=64, a=8), and of the MoE layer's
// routed path (router GEMM, top-a, permutation, per-expert up/down GEMMs through cuBLAS, weighted
// combine) for the medium config and the large one of the issue (d=1024, N=64, a=8; per layer,
// L=8 layers scale both time and FLOPs by 8, so tokens/s per layer / 8 is the model's).
// Without a usable device it prints one "no device" line and exits 0.
#include "muelab/models/cuda/device.hpp"
#include "muelab/models/cuda/kernels.hpp"
#include "muelab/models/cuda/model.hpp"
#include "muelab/models/cpu/trainer.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

namespace mc = muelab::models::cuda;
using mc::index_t;

namespace {

struct BenchConfig {
  const char* name;
  index_t d, layers, n_experts, active, d_expert, tokens;
};

// FP32 peak from the SM count and clock (128 FP32 FMA lanes per SM on sm_80/sm_90 → 256 FLOP/clock);
// BF16 dense tensor peak per SM per clock: 1024 FMA (sm_80) / 2048 FMA (sm_90) → ×2 FLOP.
double fp32_peak(const mc::DeviceStatus& s) { return s.multiprocessors * s.clock_ghz * 1e9 * 256.0; }
double bf16_peak(const mc::DeviceStatus& s) {
  return s.multiprocessors * s.clock_ghz * 1e9 * (s.compute_major >= 9 ? 4096.0 : 2048.0);
}

void run(const BenchConfig& c, const mc::DeviceStatus& status) {
  const index_t n = c.tokens, d = c.d, N = c.n_experts, a = c.active, de = c.d_expert;
  std::vector<float> host_x(static_cast<std::size_t>(n * d)), host_router(static_cast<std::size_t>(d * N));
  std::vector<float> host_up(static_cast<std::size_t>(N * d * de)), host_down(static_cast<std::size_t>(N * de * d));
  for (std::size_t i = 0; i < host_x.size(); ++i) host_x[i] = std::sin(0.37f * static_cast<float>(i));
  for (std::size_t i = 0; i < host_router.size(); ++i) host_router[i] = 0.01f * std::cos(1.3f * static_cast<float>(i));
  for (std::size_t i = 0; i < host_up.size(); ++i) host_up[i] = 0.02f * std::sin(0.11f * static_cast<float>(i));
  for (std::size_t i = 0; i < host_down.size(); ++i) host_down[i] = 0.02f * std::cos(0.13f * static_cast<float>(i));
  mc::DeviceArray<float> x(host_x), router(host_router), up(host_up), down(host_down);
  mc::DeviceArray<float> scores(static_cast<std::size_t>(n * N)), p(static_cast<std::size_t>(n * N));
  mc::DeviceArray<float> gate(static_cast<std::size_t>(n * a)), out(static_cast<std::size_t>(n * d));
  mc::DeviceArray<float> xs(static_cast<std::size_t>(n * a * d)), hidden(static_cast<std::size_t>(n * a * de)),
      act(static_cast<std::size_t>(n * a * de)), ys(static_cast<std::size_t>(n * a * d));
  mc::DeviceArray<double> bias(std::vector<double>(static_cast<std::size_t>(N), 0.0));
  mc::DeviceArray<index_t> choice(static_cast<std::size_t>(n * a)), load(static_cast<std::size_t>(N)),
      offsets(static_cast<std::size_t>(N + 1)), rows(static_cast<std::size_t>(n * a)), slots(static_cast<std::size_t>(n * a)),
      position(static_cast<std::size_t>(n * a));
  std::vector<float*> host_up_table, host_down_table;
  for (index_t e = 0; e < N; ++e) {
    host_up_table.push_back(up.data() + e * d * de);
    host_down_table.push_back(down.data() + e * de * d);
  }
  mc::DeviceArray<float*> up_table(host_up_table), down_table(host_down_table);
  mc::Blas blas;
  // The model's path: permutation and expert GEMMs driven by device offsets, no host read.
  const auto routing = [&] {
    blas.gemm(false, false, n, N, d, 1.0f, x.data(), d, router.data(), N, 0.0f, scores.data(), N);
    mc::router_probabilities(scores.data(), n, N, false, p.data());
    mc::top_a_gates(p.data(), bias.data(), n, N, 1, a, true, choice.data(), gate.data());
    mc::permute_by_expert(choice.data(), n, a, N, n * a, load.data(), offsets.data(), rows.data(), slots.data(),
                          position.data());
    mc::gather_rows(x.data(), rows.data(), offsets.data() + N, n * a, d, xs.data());
  };
  const auto grouped_layer = [&] {
    routing();
    mc::grouped_gemm_rows(false, N, offsets.data(), n * a, de, d, 1.0f, xs.data(), d, up_table.data(), de, 0.0f,
                          hidden.data(), de);
    mc::gelu_forward(hidden.data(), n * a * de, act.data());
    mc::grouped_gemm_rows(false, N, offsets.data(), n * a, d, de, 1.0f, act.data(), de, down_table.data(), d, 0.0f,
                          ys.data(), d);
    mc::combine(ys.data(), position.data(), choice.data(), gate.data(), 1.0f, true, n, a, d, out.data(), false);
  };
  // For comparison: per-expert cuBLAS GEMMs, which need the N+1 offsets on the host (one read per layer).
  const auto cublas_layer = [&] {
    routing();
    const auto off = offsets.download();
    for (index_t e = 0; e < N; ++e) {
      const index_t r0 = off[static_cast<std::size_t>(e)], m = off[static_cast<std::size_t>(e) + 1] - r0;
      blas.gemm(false, false, m, de, d, 1.0f, xs.data() + r0 * d, d, up.data() + e * d * de, de, 0.0f,
                hidden.data() + r0 * de, de);
    }
    mc::gelu_forward(hidden.data(), n * a * de, act.data());
    for (index_t e = 0; e < N; ++e) {
      const index_t r0 = off[static_cast<std::size_t>(e)], m = off[static_cast<std::size_t>(e) + 1] - r0;
      blas.gemm(false, false, m, d, de, 1.0f, act.data() + r0 * de, de, down.data() + e * de * d, d, 0.0f,
                ys.data() + r0 * d, d);
    }
    mc::combine(ys.data(), position.data(), choice.data(), gate.data(), 1.0f, true, n, a, d, out.data(), false);
  };
  for (const bool grouped : {true, false}) {
    const auto layer = [&] { grouped ? grouped_layer() : cublas_layer(); };
    layer();
    mc::synchronize();
    const int repeats = 10;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < repeats; ++i) layer();
    mc::synchronize();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeats;
    const double flops = 2.0 * static_cast<double>(n) * static_cast<double>(d * N + 2 * a * d * de);
    const double achieved = flops / seconds;
    fmt::print("{:8s} d={} N={} a={} d_expert={} tokens={}: MoE layer forward ({}) {:.3f} ms, {:.0f} tokens/s per layer "
               "({:.0f} tokens/s for L={}), {:.1f} TFLOP/s, MFU {:.1f}% of FP32 peak, {:.1f}% of BF16 peak\n",
               c.name, d, N, a, de, n, grouped ? "grouped GEMM, device offsets" : "per-expert cuBLAS, host offsets",
               1e3 * seconds, static_cast<double>(n) / seconds,
               static_cast<double>(n) / seconds / static_cast<double>(c.layers), c.layers, achieved * 1e-12,
               100.0 * achieved / fp32_peak(status), 100.0 * achieved / bf16_peak(status));
  }
}

/// Whole training steps (forward, backward, AdamW) of the CUDA model on a Markov-chain batch;
/// FLOPs per token as bench/models/bench_models.py counts them (6·active parameters + attention).
void run_training_step(const char* name, index_t d, index_t layers, index_t N, index_t a, index_t batch, index_t seq,
                       const mc::DeviceStatus& status) {
  const index_t vocab = 64;
  const std::string toml = fmt::format(R"([model]
d_model = {}
n_layers = {}
d_head = 64
ffn = "moe"
n_experts = {}
n_active = {}
d_expert = {}
[train]
batch_size = {}
seq_len = {}
steps = 10
[transfer]
lr = 1e-3
init_std = 0.02
[data]
source = "markov"
markov_states = {}
)", d, layers, N, a, d, batch, seq, vocab);
  const auto run = muelab::models::cpu::parse_train_run(toml, "bench", ".", {});
  const auto data = muelab::models::cpu::make_token_source(run.data);
  mc::Model<float> model(muelab::models::cpu::make_model_spec(run.transfer, run.target.model, data->vocab_size(), seq,
                                                              run.architecture));
  model.initialize(1);
  const auto hyper = muelab::models::cpu::group_hyperparameters(run.transfer);
  const auto step = [&](std::int64_t s) {
    const auto b = data->train_batch(1, s, batch, seq);
    model.enqueue_forward(b.tokens, b.targets, batch);
    model.backward();
    model.finish_gradients(s);
    model.step(run.transfer.optimizer, hyper, 1.0);
    static_cast<void>(model.read_loss());  // the trainer's one per-step read
  };
  step(0);  // warm-up (cuBLAS initialization, first allocations)
  mc::synchronize();
  const int repeats = 5;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1; i <= repeats; ++i) step(i);
  mc::synchronize();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeats;
  const double tokens = static_cast<double>(batch * seq);
  const double dd = static_cast<double>(d), L = static_cast<double>(layers);
  const double per_layer = 4 * dd * dd + 2 * dd * dd * static_cast<double>(a) + dd * static_cast<double>(N);
  const double flops_per_token =
      6 * (L * per_layer + dd * static_cast<double>(data->vocab_size())) + 12 * L * static_cast<double>(seq) * dd / 2;
  const double achieved = flops_per_token * tokens / seconds;
  fmt::print("{:8s} training step d={} L={} N={} a={} batch {}x{}: {:.2f} ms/step, {:.0f} tokens/s, {:.2f} TFLOP/s, "
             "MFU {:.1f}% of FP32 peak, {:.1f}% of BF16 peak (FP32 GEMMs, pedantic math)\n",
             name, d, layers, N, a, batch, seq, 1e3 * seconds, tokens / seconds, achieved * 1e-12,
             100.0 * achieved / fp32_peak(status), 100.0 * achieved / bf16_peak(status));
}

}  // namespace

int main() {
  const auto status = mc::query_device();
  if (!status.usable) {
    std::printf("muelab_bench_cuda: no device (%s); nothing measured\n", status.message.c_str());
    return 0;
  }
  std::printf("muelab_bench_cuda: %s\n", status.message.c_str());
  try {
    run({"medium", 512, 4, 16, 2, 512, 8192}, status);
    run({"large", 1024, 8, 64, 8, 1024, 16384}, status);
    run_training_step("medium", 512, 4, 16, 2, 8, 128, status);
    run_training_step("large", 1024, 8, 64, 8, 16, 256, status);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "muelab_bench_cuda: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
