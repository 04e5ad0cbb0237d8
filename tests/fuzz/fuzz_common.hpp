// Shared by the libFuzzer harnesses (docs/development.md, "Fuzzing"): which exceptions count as the
// clean one-line input errors the command line turns into exit status 2, and how a finding stops the
// run. Anything else escaping a parser (a bare std::out_of_range, a toml++ error, an allocation
// failure) is a finding, as are the sanitizers' reports.
#pragma once

#include "muelab/io/input_error.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <typeinfo>

namespace muelab::fuzz {

/// tests/fixtures/good-configs/base-dense.toml: the valid base config the harnesses start from.
inline constexpr const char* kBaseDenseConfig = R"([model]
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

inline std::string as_text(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

/// Stops the fuzzer with the finding's description (libFuzzer then writes the crashing input).
[[noreturn]] inline void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz finding: %s: %s\n", what, detail.c_str());
  std::abort();
}

/// Runs `parse`; an io::InputError (or one of `Allowed...`) is a clean rejection, any other exception a finding.
template <class... Allowed, class Parse>
void expect_clean(Parse&& parse) {
  try {
    parse();
  } catch (const io::InputError&) {
  } catch (const std::exception& e) {
    if (!(... || (dynamic_cast<const Allowed*>(&e) != nullptr)))
      finding(typeid(e).name(), e.what());
  }
}

}  // namespace muelab::fuzz
