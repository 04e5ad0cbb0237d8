// Time of one training step of the CPU trainer (forward, backward, gradient norm, AdamW step) at the
// experiments' shapes, split by phase; one thread unless told otherwise. Prints one line per case:
//   case=NAME d=.. L=.. tokens=.. threads=.. us_per_step=.. cpu_us_per_step=.. cpu_us_min=.. forward=.. backward=..
//   optimizer=.. data=.. tokens_per_s=.. loss_first=.. loss_last=..
// (phase times in µs per step, median over the timed steps, after warm-up steps; cpu_us_min: the
// least process CPU time of one step, the figure least disturbed by other load).
// Usage: bench_models_step [--threads T] [--steps S] [--warmup W] [--only NAME] [--data DIR]
//        bench_models_step --sgemm N [--threads T]   (the trainer's GEMM engine on N³ float products)
#include "muelab/models/cpu/blas.hpp"
#include "muelab/models/cpu/trainer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace muelab::models::cpu;
using Clock = std::chrono::steady_clock;

struct Case {
  std::string name;
  int d, layers, experts, active;  // experts = 0: a dense FFN (see toml())
  int batch, seq;
  int head = 0, expert_width = 0;  // 0: d_head = min(16, d), expert width 4·d/a
  bool capacity_task = false;      // the markov-k task of the capacity-bound experiments, else fortunes
};

// The shapes the transformer experiments train (d = 32/64, L = 2, 16 × 64 tokens, MoE N = 8, a = 2,
// expert width 4·d/a so the MoE's active width equals the dense FFN's 4·d), plus d = 128 and 512, and
// the capacity-bound task's shape (docs/theory.md §9: d = 32, d_head = 8, N = 8, a = 2, expert width 16).
const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"d32-dense", 32, 2, 0, 0, 16, 64},
      {"d32-moe", 32, 2, 8, 2, 16, 64},
      {"d64-dense", 64, 2, 0, 0, 16, 64},
      {"d64-moe", 64, 2, 8, 2, 16, 64},
      {"d128-dense", 128, 2, 0, 0, 16, 64},
      {"d128-moe", 128, 2, 8, 2, 16, 64},
      {"d512-dense", 512, 2, 0, 0, 8, 128},
      {"d512-moe", 512, 2, 8, 2, 8, 128},
      {"cap-moe", 32, 2, 8, 2, 16, 64, 8, 16, true},
  };
  return all;
}

std::string toml(const Case& c, const std::string& data_dir) {
  const int width = 4 * c.d;
  std::string model = fmt::format("[model]\nd_model = {}\nn_layers = {}\nd_head = {}\n", c.d, c.layers,
                                  c.head > 0 ? c.head : std::min(16, c.d));
  if (c.experts == 0)
    model += fmt::format("ffn = \"dense\"\nd_ffn = {}\n", width);
  else
    model += fmt::format("ffn = \"moe\"\nn_experts = {}\nn_active = {}\nd_expert = {}\nrouter = \"sigmoid\"\n",
                         c.experts, c.active, c.expert_width > 0 ? c.expert_width : width / c.active);
  const std::string data = c.capacity_task ? "source = \"markov-k\"\nmarkov_states = 32\nmarkov_order = 2\n"
                                             "markov_temperature = 0.3\nmarkov_seed = 7\n"
                                           : fmt::format("source = \"fortunes\"\npath = \"{}\"\n", data_dir);
  return model + fmt::format(
                     "[train]\nbatch_size = {}\nseq_len = {}\nsteps = 1000\n"
                     "[transfer]\nrule = \"complete-mue\"\noptimizer = \"adamw\"\nlr = 3e-3\nweight_decay = 0.1\n"
                     "eps = 1e-8\nbeta1 = 0.9\nbeta2 = 0.95\ninit_std = 0.02\n"
                     "[data]\n{}[trainer]\nseed = 1\nthreads = 1\n",
                     c.batch, c.seq, data);
}

/// CPU time of the whole process (all threads), in µs: on a loaded machine the wall clock also counts
/// time given to other processes.
double process_cpu_us() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return 1e6 * static_cast<double>(t.tv_sec) + 1e-3 * static_cast<double>(t.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}


void run_case(const Case& c, int threads, int steps, int warmup, const std::string& data_dir) {
  const auto run = parse_train_run(toml(c, data_dir), c.name, ".", {});
  const auto data = make_token_source(run.data);
  set_thread_count(threads);
  Model<float> model(make_model_spec(run.transfer, run.target.model, data->vocab_size(), c.seq, run.architecture));
  model.initialize(1);
  Optimizer<float> optimizer(run.transfer.optimizer, group_hyperparameters(run.transfer));
  std::vector<double> total, fwd, bwd, opt, dat, cpu;
  double first = 0.0, last = 0.0;
  for (int step = 0; step < warmup + steps; ++step) {
    const double c0 = process_cpu_us();
    const auto t0 = Clock::now();
    const auto batch = data->train_batch(1, step, c.batch, c.seq);
    const auto t1 = Clock::now();
    const auto stats = model.forward(batch.tokens, batch.targets, c.batch);
    const auto t2 = Clock::now();
    model.backward();
    const auto t3 = Clock::now();
    double grad_sq = 0.0;  // the trainer's gradient norm, part of its step (models/cpu/src/trainer.cpp)
    for (const auto& p : model.parameters()) grad_sq += static_cast<double>(p.grad.squaredNorm());
    if (!std::isfinite(grad_sq)) throw std::runtime_error(c.name + ": non-finite gradient at step " + std::to_string(step));
    (void)optimizer.step(model.parameters(), 1.0);
    const auto t4 = Clock::now();
    const double c1 = process_cpu_us();
    if (step == 0) first = stats.loss;
    last = stats.loss;
    if (step < warmup) continue;
    const auto us = [](auto a, auto b) { return 1e6 * std::chrono::duration<double>(b - a).count(); };
    dat.push_back(us(t0, t1));
    fwd.push_back(us(t1, t2));
    bwd.push_back(us(t2, t3));
    opt.push_back(us(t3, t4));
    total.push_back(us(t0, t4));
    cpu.push_back(c1 - c0);
  }
  const double step_us = median(total);
  std::cout << fmt::format(
      "case={} d={} L={} tokens={} threads={} us_per_step={:.0f} cpu_us_per_step={:.0f} cpu_us_min={:.0f} forward={:.0f} backward={:.0f} optimizer={:.0f} "
      "data={:.0f} tokens_per_s={:.0f} loss_first={:.4f} loss_last={:.4f}\n",
      c.name, c.d, c.layers, c.batch * c.seq, threads, step_us, median(cpu), *std::min_element(cpu.begin(), cpu.end()), median(fwd), median(bwd), median(opt), median(dat),
      1e6 * c.batch * c.seq / step_us, first, last);
}

/// The trainer's own GEMM engine on n × n × n float products (the machine limit bench_models.py
/// reports beside torch's OpenBLAS): best of 10 after 3 warm-up products.
void run_sgemm(int n, int threads) {
  namespace cpu = muelab::models::cpu;
  cpu::set_thread_count(threads);
  std::vector<float> a(static_cast<std::size_t>(n) * n), b(a.size()), c(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<float>((i * 7919) % 1000) * 1e-3f - 0.5f;
    b[i] = static_cast<float>((i * 104729) % 1000) * 1e-3f - 0.5f;
  }
  const auto product = [&] { cpu::gemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n); };
  for (int i = 0; i < 3; ++i) product();
  double best = 1e300;
  for (int i = 0; i < 10; ++i) {
    const auto start = std::chrono::steady_clock::now();
    product();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::cout << fmt::format("sgemm engine={} n={} threads={} gflops={:.1f}\n",
                           cpu::gemm_engine_name(cpu::active_gemm_engine()), n, threads, 2.0 * n * n * n / best * 1e-9);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, steps = 30, warmup = 5, sgemm = 0;
  std::string only, data_dir = "/usr/share/games/fortunes";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "bench_models_step: error: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    const auto integer = [&]() -> int {
      const auto text = value();
      try {
        std::size_t used = 0;
        const int v = std::stoi(text, &used);
        if (used == text.size()) return v;
      } catch (const std::exception&) {
      }
      std::cerr << "bench_models_step: error: " << arg << ": \"" << text << "\" is not an integer\n";
      std::exit(2);
    };
    if (arg == "--threads") threads = integer();
    else if (arg == "--steps") steps = integer();
    else if (arg == "--warmup") warmup = integer();
    else if (arg == "--only") only = value();
    else if (arg == "--data") data_dir = value();
    else if (arg == "--sgemm")
      sgemm = integer();
    else {
      std::cerr << "bench_models_step: error: unknown argument " << arg
                << " (accepted: --threads, --steps, --warmup, --only, --data, --sgemm)\n";
      return 2;
    }
  }
  if (sgemm < 0 || sgemm > 8192) {
    std::cerr << "bench_models_step: error: --sgemm must be in [1, 8192]\n";
    return 2;
  }
  if (threads < 1 || steps < 1 || warmup < 0) {
    std::cerr << "bench_models_step: error: --threads and --steps must be >= 1, --warmup >= 0\n";
    return 2;
  }
  if (!only.empty() && std::none_of(cases().begin(), cases().end(), [&](const Case& c) { return c.name == only; })) {
    std::string accepted;
    for (const auto& c : cases()) accepted += (accepted.empty() ? "" : ", ") + c.name;
    std::cerr << "bench_models_step: error: --only: unknown case \"" << only << "\" (accepted: " << accepted << ")\n";
    return 2;
  }
  if (sgemm > 0) {
    run_sgemm(sgemm, threads);
    return 0;
  }
  try {
    for (const auto& c : cases())
      if (only.empty() || c.name == only) run_case(c, threads, steps, warmup, data_dir);
  } catch (const std::exception& e) {  // a missing data directory, a diverged step
    std::cerr << "bench_models_step: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
