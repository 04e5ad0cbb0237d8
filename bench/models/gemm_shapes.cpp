// GEMM engines on the trainer's own shapes (bench/models/results.md, "GEMM engine"), in one run, on one
// thread, row-major C (m × n) = op(A) · op(B) + beta · C: the forward, dX and dW products at d = 32, 64,
// 128 (1024 tokens; 256 rows per expert) and four d = 512 products. Engines:
//  * openblas   — cblas_sgemm, as the environment configures it (OPENBLAS_CORETYPE, ...);
//  * dnnl       — oneDNN's dnnl_sgemm (row-major; Debian libdnnl-dev), one OpenMP thread;
//  * xsmm-jit   — libxsmm's JIT kernels (libxsmm_smmdispatch, Debian libxsmm-dev), called over blocks of
//                 C and k (XsmmBlocking), dispatched before timing; "n/a" where libxsmm returns no kernel (1.17: no
//                 transposed first column-major operand, i.e. no row-major NT; alpha must be 1, beta 0 or 1);
//  * xsmm-blas  — libxsmm's BLAS-compatible libxsmm_sgemm (it hands shapes this size to the BLAS it is
//                 linked with, OpenBLAS: same bits, same speed);
//  * eigen512   — muelab's own engine, muelab::models::cpu::gemm forced to eigen-avx512.
// Prints GFLOP/s (best of 5 timings) and each engine's largest |difference| from OpenBLAS's result, then
// the geometric-mean GFLOP/s per shape class (d32, d64, d128, d512) of each engine. oneDNN and libxsmm
// are optional at build time (MUELAB_BENCH_HAVE_DNNL, MUELAB_BENCH_HAVE_XSMM): a missing one is reported
// as "not built". alpha = 1 throughout, since libxsmm 1.17's JIT accepts no other (the trainer's alpha is
// its muP multiplier; every other engine applies alpha on the way out of the kernel).
// Usage: OPENBLAS_NUM_THREADS=1 bench_models_gemm_shapes [ROWS COLS DEPTH]
//   ROWS COLS DEPTH: the libxsmm JIT blocking (rows of C, columns of C, k; 0 = whole), default 128 512 256.
#include "muelab/models/cpu/blas.hpp"

#include <cblas.h>
#include <omp.h>
#ifdef MUELAB_BENCH_HAVE_DNNL
#include <dnnl.h>
#endif
#ifdef MUELAB_BENCH_HAVE_XSMM
#include <libxsmm.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

namespace cpu = muelab::models::cpu;

constexpr float kAlpha = 1.f;

/// C (m × n) = alpha · op(A) · op(B) + beta · C, row-major.
struct Shape {
  std::string shape_class, name;
  bool transpose_a, transpose_b;
  int m, n, k;
  float beta;
  [[nodiscard]] int lda() const { return transpose_a ? m : k; }
  [[nodiscard]] int ldb() const { return transpose_b ? k : n; }
};

/// One engine bound to one shape; empty when the engine cannot run it.
using Runner = std::function<void(const float* a, const float* b, float* c)>;

struct Engine {
  std::string name;
  std::function<Runner(const Shape&)> bind;  ///< empty when the engine is not built
};

Runner openblas(const Shape& s) {
  return [s](const float* a, const float* b, float* c) {
    cblas_sgemm(CblasRowMajor, s.transpose_a ? CblasTrans : CblasNoTrans, s.transpose_b ? CblasTrans : CblasNoTrans,
                s.m, s.n, s.k, kAlpha, a, s.lda(), b, s.ldb(), s.beta, c, s.n);
  };
}

Runner muelab_eigen(const Shape& s) {
  if (cpu::active_gemm_engine() != cpu::GemmEngine::eigen_avx512) return {};
  return [s](const float* a, const float* b, float* c) {
    cpu::gemm(s.transpose_a, s.transpose_b, s.m, s.n, s.k, kAlpha, a, s.lda(), b, s.ldb(), s.beta, c, s.n);
  };
}

#ifdef MUELAB_BENCH_HAVE_DNNL
Runner dnnl(const Shape& s) {
  return [s](const float* a, const float* b, float* c) {
    if (dnnl_sgemm(s.transpose_a ? 'T' : 'N', s.transpose_b ? 'T' : 'N', s.m, s.n, s.k, kAlpha, a, s.lda(), b, s.ldb(),
                   s.beta, c, s.n) != dnnl_success) {
      std::fprintf(stderr, "dnnl_sgemm failed on %s\n", s.name.c_str());
      std::exit(1);
    }
  };
}
#endif

#ifdef MUELAB_BENCH_HAVE_XSMM
/// Blocks of the row-major C (rows × cols) and of the inner dimension k (depth); 0 = the whole extent.
/// libxsmm's kernels do no cache blocking of their own. Default 128 × 512 × 256, the fastest of the
/// few tried (Zen 5, one thread, loaded machine): it keeps a 256 × 512 panel of B (512 KiB) in L2. At
/// d = 512 its geometric mean was ~200 GFLOP/s against ~157 for one whole-shape kernel or row blocks
/// alone (64, 128 or 256 rows), ~193 with depth 128 and ~155 with depth 512 or 1024 columns; the
/// d <= 128 shapes, which it leaves whole or splits only by rows or depth, ran at 220-230 either way.
struct XsmmBlocking {
  int rows = 128, cols = 512, depth = 256;
};
XsmmBlocking xsmm_blocking;  // set from the command line

/// Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: libxsmm's A is our B (its TRANS_A flag
/// is our transpose_b), its B is our A, its m × n is our n × m. A block of rows of C is a block of
/// libxsmm's columns; the kernels of one plan are dispatched once, outside the timed calls.
class XsmmJitPlan {
 public:
  XsmmJitPlan(const Shape& s, XsmmBlocking blocking) {
    const int rows = blocking.rows > 0 ? blocking.rows : s.m, cols = blocking.cols > 0 ? blocking.cols : s.n;
    const int depth = blocking.depth > 0 ? blocking.depth : s.k;
    for (int r = 0; r < s.m; r += rows)
      for (int j = 0; j < s.n; j += cols)
        for (int p = 0; p < s.k; p += depth)
          add_block(s, r, j, p, std::min(rows, s.m - r), std::min(cols, s.n - j), std::min(depth, s.k - p));
  }
  [[nodiscard]] bool ready() const { return ready_; }
  void run(const float* a, const float* b, float* c) const {
    for (const auto& call : calls_) call.kernel(b + call.b, a + call.a, c + call.c);
  }

 private:
  struct Call {
    libxsmm_smmfunction kernel;
    std::ptrdiff_t a, b, c;
  };
  void add_block(const Shape& s, int r, int j, int p, int rows, int cols, int depth) {
    const libxsmm_blasint lda = s.ldb(), ldb = s.lda(), ldc = s.n;  // libxsmm's operands
    const float alpha = kAlpha, beta = p == 0 ? s.beta : 1.f;
    const int flags = (s.transpose_b ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (s.transpose_a ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    const int prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
    const auto kernel = libxsmm_smmdispatch(cols, rows, depth, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
    if (kernel == nullptr) ready_ = false;
    const std::ptrdiff_t a_offset = s.transpose_a ? r + std::ptrdiff_t{p} * s.lda() : std::ptrdiff_t{r} * s.lda() + p;
    const std::ptrdiff_t b_offset = s.transpose_b ? std::ptrdiff_t{j} * s.ldb() + p : std::ptrdiff_t{p} * s.ldb() + j;
    calls_.push_back({kernel, a_offset, b_offset, std::ptrdiff_t{r} * s.n + j});
  }
  std::vector<Call> calls_;
  bool ready_ = true;
};

Runner xsmm_jit(const Shape& s) {
  auto plan = std::make_shared<XsmmJitPlan>(s, xsmm_blocking);
  if (!plan->ready()) return {};
  return [plan](const float* a, const float* b, float* c) { plan->run(a, b, c); };
}

Runner xsmm_blas(const Shape& s) {
  return [s](const float* a, const float* b, float* c) {
    const libxsmm_blasint lda = s.lda(), ldb = s.ldb(), ldc = s.n, m = s.m, n = s.n, k = s.k;
    const char ta = s.transpose_a ? 't' : 'n', tb = s.transpose_b ? 't' : 'n';
    const float alpha = kAlpha, beta = s.beta;
    libxsmm_sgemm(&tb, &ta, &n, &m, &k, &alpha, b, &ldb, a, &lda, &beta, c, &ldc);  // column-major Cᵀ
  };
}
#endif

std::vector<Engine> engines() {
  std::vector<Engine> list{
      {"openblas", openblas}, {"dnnl", {}}, {"xsmm-jit", {}}, {"xsmm-blas", {}}, {"eigen512", muelab_eigen}};
#ifdef MUELAB_BENCH_HAVE_DNNL
  list[1].bind = dnnl;
#endif
#ifdef MUELAB_BENCH_HAVE_XSMM
  list[2].bind = xsmm_jit;
  list[3].bind = xsmm_blas;
#endif
  return list;
}

template <class F>
double best_seconds(F f, int repeats) {
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < repeats; ++i) f();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / repeats);
  }
  return best;
}

std::vector<Shape> trainer_shapes() {
  std::vector<Shape> shapes;
  for (const int d : {32, 64, 128}) {
    const int tokens = 1024, rows = 256;  // rows per expert: tokens · a / N with a = 2, N = 8
    std::string shape_class = "d";        // not "d" + std::string&&: GCC 12 -Wrestrict false positive (bug 105329)
    shape_class += std::to_string(d);
    const auto add = [&](const char* what, bool ta, bool tb, int m, int n, int k, float beta) {
      shapes.push_back({shape_class, shape_class + " " + what, ta, tb, m, n, k, beta});
    };
    add("qkv forward  NN", false, false, tokens, 3 * d, d, 0.f);
    add("qkv dX       NT", false, true, tokens, d, 3 * d, 0.f);
    add("qkv dW       TN", true, false, d, 3 * d, tokens, 1.f);
    add("ffn down     NN", false, false, tokens, d, 4 * d, 0.f);
    add("expert up    NN", false, false, rows, 2 * d, d, 0.f);
    add("expert dX    NT", false, true, rows, d, 2 * d, 0.f);
    add("expert dW    TN", true, false, d, 2 * d, rows, 1.f);
    add("head         NN", false, false, tokens, 96, d, 0.f);
  }
  const auto add_d512 = [&](const char* what, bool ta, bool tb, int m, int n, int k, float beta) {
    shapes.push_back({"d512", std::string("d512 ") + what, ta, tb, m, n, k, beta});
  };
  add_d512("qkv forward  NN", false, false, 1024, 1536, 512, 0.f);
  add_d512("ffn up       NN", false, false, 1024, 2048, 512, 0.f);
  add_d512("ffn down     NN", false, false, 1024, 512, 2048, 0.f);
  add_d512("qkv dW       TN", true, false, 512, 1536, 1024, 1.f);
  return shapes;
}

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

const char* env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value == nullptr ? fallback : value;
}

/// Threads: one everywhere. oneDNN (OpenMP runtime) and muelab's loops read omp_set_num_threads(1),
/// set in code here; OpenBLAS gets openblas_set_num_threads(1) from set_thread_count(1).
void set_up(int argc, char** argv) {
  if (argc != 1 && argc != 4) {
    std::fprintf(stderr, "usage: OPENBLAS_NUM_THREADS=1 %s [ROWS COLS DEPTH]\n", argv[0]);
    std::exit(2);
  }
  cpu::set_thread_count(1);
  omp_set_num_threads(1);
  if (cpu::gemm_engine_supported(cpu::GemmEngine::eigen_avx512)) cpu::force_gemm_engine(cpu::GemmEngine::eigen_avx512);
#ifdef MUELAB_BENCH_HAVE_XSMM
  libxsmm_init();
  if (argc == 4) xsmm_blocking = {std::atoi(argv[1]), std::atoi(argv[2]), std::atoi(argv[3])};
#else
  static_cast<void>(argc), static_cast<void>(argv);
#endif
}

void print_setup() {
  std::printf("cpu: %s\n", cpu_model().c_str());
  std::printf("openblas: %s (core %s); OPENBLAS_CORETYPE=%s, OPENBLAS_NUM_THREADS=%s, threads in use %d\n",
              openblas_get_config(), openblas_get_corename(), env_or("OPENBLAS_CORETYPE", "(unset)"),
              env_or("OPENBLAS_NUM_THREADS", "(unset)"), openblas_get_num_threads());
#ifdef MUELAB_BENCH_HAVE_DNNL
  const auto* version = dnnl_version();
  std::printf(
      "dnnl: oneDNN %d.%d.%d, dnnl_sgemm; threads: omp_set_num_threads(1) in code (omp_get_max_threads() = %d)\n",
      version->major, version->minor, version->patch, omp_get_max_threads());
#else
  std::printf("dnnl: not built (oneDNN not found at configure time)\n");
#endif
#ifdef MUELAB_BENCH_HAVE_XSMM
  std::printf("xsmm: libxsmm %s, JIT target %s; JIT blocking of C: rows %d, cols %d, depth %d (0 = whole)\n",
              LIBXSMM_CONFIG_VERSION, libxsmm_get_target_arch(), xsmm_blocking.rows, xsmm_blocking.cols,
              xsmm_blocking.depth);
#else
  std::printf("xsmm-jit, xsmm-blas: not built (libxsmm not found at configure time)\n");
#endif
  std::printf("eigen512: muelab::models::cpu::gemm, engine %s%s, set_thread_count(1)\n",
              cpu::gemm_engine_name(cpu::active_gemm_engine()).c_str(),
              cpu::active_gemm_engine() == cpu::GemmEngine::eigen_avx512 ? "" : " (no AVX-512: column n/a)");
  std::printf("alpha = %g; GFLOP/s best of 5; diff = max |C - C_openblas|; n/a = no kernel, - = not built\n\n",
              static_cast<double>(kAlpha));
}

struct Result {
  std::vector<double> gflops, diff;  ///< per engine; NaN when the engine did not run
};

double max_difference(const std::vector<float>& x, const std::vector<float>& y) {
  double diff = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) diff = std::max(diff, static_cast<double>(std::abs(x[i] - y[i])));
  return diff;
}

Result measure(const Shape& s, const std::vector<Engine>& list, std::mt19937& generator) {
  std::normal_distribution<float> normal;
  std::vector<float> a(static_cast<std::size_t>(s.m) * s.k), b(static_cast<std::size_t>(s.k) * s.n);
  for (auto& x : a) x = normal(generator);
  for (auto& x : b) x = normal(generator);
  const double flops = 2.0 * s.m * s.n * s.k, nan = std::numeric_limits<double>::quiet_NaN();
  const int repeats = std::max(1, static_cast<int>(2e8 / flops));
  std::vector<float> reference;
  Result result;
  for (const auto& engine : list) {
    const Runner run = engine.bind ? engine.bind(s) : Runner{};
    if (!run) {
      result.gflops.push_back(nan), result.diff.push_back(nan);
      continue;
    }
    std::vector<float> c(static_cast<std::size_t>(s.m) * s.n, 0.f);
    run(a.data(), b.data(), c.data());
    if (reference.empty()) reference = c;  // the first engine, OpenBLAS
    result.diff.push_back(max_difference(c, reference));
    result.gflops.push_back(flops / best_seconds([&] { run(a.data(), b.data(), c.data()); }, repeats) / 1e9);
  }
  return result;
}

void print_cell(double value, bool built, bool difference) {
  if (!built)
    std::printf(" %9s", "-");
  else if (std::isnan(value))
    std::printf(" %9s", "n/a");
  else if (difference)
    std::printf(" %9.2g", value);
  else
    std::printf(" %9.1f", value);
}

void print_header(const std::vector<Engine>& list) {
  std::printf("%-21s %5s %5s %5s", "shape", "m", "n", "k");
  for (const auto& engine : list) std::printf(" %9s", engine.name.c_str());
  for (std::size_t e = 1; e < list.size(); ++e) std::printf("  d:%-6.6s", list[e].name.c_str());
  std::printf("\n");
}

void print_row(const Shape& s, const std::vector<Engine>& list, const Result& r) {
  std::printf("%-21s %5d %5d %5d", s.name.c_str(), s.m, s.n, s.k);
  for (std::size_t e = 0; e < list.size(); ++e) print_cell(r.gflops[e], static_cast<bool>(list[e].bind), false);
  for (std::size_t e = 1; e < list.size(); ++e) print_cell(r.diff[e], static_cast<bool>(list[e].bind), true);
  std::printf("\n");
}

/// Geometric mean of the GFLOP/s of one engine over one shape class, and how many shapes it ran.
void print_class_mean(const std::vector<Shape>& shapes, const std::vector<Result>& results, std::size_t engine,
                      const std::string& shape_class) {
  double log_sum = 0.0;
  int ran = 0, total = 0;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    if (shapes[i].shape_class != shape_class) continue;
    ++total;
    if (std::isnan(results[i].gflops[engine])) continue;
    log_sum += std::log(results[i].gflops[engine]), ++ran;
  }
  if (ran == 0)
    std::printf(" %5s: %7s     ", shape_class.c_str(), "n/a");
  else
    std::printf(" %5s: %7.1f (%d/%d)", shape_class.c_str(), std::exp(log_sum / ran), ran, total);
}

void print_summary(const std::vector<Shape>& shapes, const std::vector<Engine>& list,
                   const std::vector<Result>& results) {
  std::printf("\ngeometric-mean GFLOP/s per shape class (shapes run / shapes in class)\n");
  for (std::size_t e = 0; e < list.size(); ++e) {
    std::printf("%-10s", list[e].name.c_str());
    if (!list[e].bind) {
      std::printf(" not built\n");
      continue;
    }
    for (const char* shape_class : {"d32", "d64", "d128", "d512"}) print_class_mean(shapes, results, e, shape_class);
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  set_up(argc, argv);
  print_setup();
  const auto list = engines();
  const auto shapes = trainer_shapes();
  std::mt19937 generator(1);
  std::vector<Result> results;
  print_header(list);
  for (const auto& s : shapes) {
    results.push_back(measure(s, list, generator));
    print_row(s, list, results.back());
    std::fflush(stdout);
  }
  print_summary(shapes, list, results);
#ifdef MUELAB_BENCH_HAVE_XSMM
  libxsmm_finalize();
#endif
  return 0;
}
