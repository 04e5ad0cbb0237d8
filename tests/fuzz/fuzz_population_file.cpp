// The population file of `muelab train --population` (experiments::parse_population_file): members, or a
// SweepError naming the field; what it accepts is written back and read again unchanged.
#include "fuzz_common.hpp"

#include "muelab/experiments/sweep.hpp"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace muelab;
  const std::string text = fuzz::as_text(data, size);
  fuzz::expect_clean<experiments::SweepError>([&] {
    const auto members = experiments::parse_population_file(text, "fuzz.json");
    const auto again = experiments::parse_population_file(experiments::population_file_text(members), "again.json");
    if (again.size() != members.size()) std::abort();
    for (std::size_t i = 0; i < members.size(); ++i)
      if (again[i].out != members[i].out || again[i].overrides != members[i].overrides) std::abort();
  });
  return 0;
}
