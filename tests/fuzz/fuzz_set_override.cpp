// One `--set table.key=value` override (io::apply_set_override) on a small document, then the run
// config it yields (theory::parse_run_config with that override): applied, or a one-line error.
#include "fuzz_common.hpp"

#include "muelab/io/toml_document.hpp"
#include "muelab/theory/config_loader.hpp"

#include <toml++/toml.h>

namespace {
// tests/fixtures/good-configs/base-dense.toml
constexpr const char* kBase = R"([model]
d_model = 128
n_layers = 4
d_head = 32
ffn = "dense"
d_ffn = 128

[train]
batch_size = 32
seq_len = 64
steps = 1000

[optim]
name = "adamw"
lr = 1e-3
weight_decay = 0.1
eps = 1e-8
beta1 = 0.9
beta2 = 0.95
init_std = 0.02

)";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace muelab;
  const std::string assignment = fuzz::as_text(data, size);
  fuzz::expect_clean([&] {
    toml::table root = io::parse_toml_document(kBase, "base.toml");
    io::apply_set_override(root, assignment, "--set", {"model", "train", "optim"});
  });
  fuzz::expect_clean([&] { (void)theory::parse_run_config(kBase, "base.toml", theory::ConfigRole::base, {assignment}); });
  return 0;
}
