// The sweep-file loader (experiments::parse_sweep_spec) and the expansion of what it accepts: a grid of
// runs or a SweepError naming the key.
#include "fuzz_common.hpp"

#include "muelab/experiments/sweep.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace muelab;
  const std::string text = fuzz::as_text(data, size);
  fuzz::expect_clean<experiments::SweepError>([&] {
    const auto spec = experiments::parse_sweep_spec(text, "/nonexistent/fuzz.toml", experiments::RunConfigCheck::not_needed);
    std::size_t runs = 1;  // expand only grids small enough to enumerate
    for (const auto& [key, values] : spec.grid) runs *= std::max<std::size_t>(values.size(), 1);
    if (runs <= 4096) (void)experiments::expand_sweep(spec);
  });
  return 0;
}
