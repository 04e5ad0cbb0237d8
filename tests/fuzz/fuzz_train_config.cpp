// The trainer's run-config loader (models::parse_train_run): a TrainRun or a one-line error.
#include "fuzz_common.hpp"

#include "muelab/models/core/data.hpp"
#include "muelab/models/core/run_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace muelab;
  const std::string text = fuzz::as_text(data, size);
  fuzz::expect_clean<models::DataError>(
      [&] { (void)models::parse_train_run(text, "fuzz.toml", "/nonexistent", {}); });
  return 0;
}
