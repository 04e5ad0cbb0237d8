// One `--set table.key=value` override (io::apply_set_override) on a small document, then the run
// config it yields (theory::parse_run_config with that override): applied, or a one-line error.
#include "fuzz_common.hpp"

#include "muelab/io/toml_document.hpp"
#include "muelab/theory/config_loader.hpp"

#include <toml++/toml.h>


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace muelab;
  const std::string assignment = fuzz::as_text(data, size);
  fuzz::expect_clean([&] {
    toml::table root = io::parse_toml_document(fuzz::kBaseDenseConfig, "base.toml");
    io::apply_set_override(root, assignment, "--set", {"model", "train", "optim"});
  });
  fuzz::expect_clean([&] { (void)theory::parse_run_config(fuzz::kBaseDenseConfig, "base.toml", theory::ConfigRole::base, {assignment}); });
  return 0;
}
