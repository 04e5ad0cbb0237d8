// The transfer config loader (theory::parse_run_config) as base and as target, and the rule engine on
// what it accepts: every outcome is a result or a ConfigError / RuleRefusal naming the field.
#include "fuzz_common.hpp"

#include "muelab/theory/config_loader.hpp"
#include "muelab/theory/sde_scaling.hpp"
#include "muelab/theory/transfer.hpp"


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace muelab;
  using namespace muelab::theory;
  const std::string text = fuzz::as_text(data, size);
  fuzz::expect_clean<RuleRefusal>([&] {
    const RunConfig base = parse_run_config(fuzz::kBaseDenseConfig, "base.toml", ConfigRole::base);
    const RunConfig target = parse_run_config(text, "fuzz.toml", ConfigRole::target);
    for (const auto rule : {RuleSource::sp, RuleSource::mup, RuleSource::completep, RuleSource::jiang,
                            RuleSource::mup_moe, RuleSource::complete_mue}) {
      try {
        (void)transfer(base, target, rule);
      } catch (const RuleRefusal&) {
      }
    }
  });
  fuzz::expect_clean<RuleRefusal>([&] {
    const RunConfig base = parse_run_config(text, "fuzz.toml", ConfigRole::base);
    (void)transfer(base, base, RuleSource::complete_mue);
  });
  return 0;
}
