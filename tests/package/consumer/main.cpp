// Uses the installed muelab: the rule engine on the docs/theory.md §5.3 worked example (paths given on
// the command line) and a statistic from sim_common. Prints what tests/package/check_package.cmake checks.
#include "muelab/sim/statistics.hpp"
#include "muelab/theory/config_loader.hpp"
#include "muelab/theory/transfer.hpp"

#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: consumer BASE.toml TARGET.toml\n");
    return 2;
  }
  using namespace muelab::theory;
  const RunConfig base = load_run_config(argv[1], ConfigRole::base, {});
  const RunConfig target = load_run_config(argv[2], ConfigRole::target, {});
  const TransferResult result = transfer(base, target, RuleSource::complete_mue);
  const std::vector<double> values = {1.0, 2.0, 3.0, 4.0};
  const auto mean = muelab::sim::mean_with_standard_error(values);
  std::printf("complete-mue lr %.6g weight_decay %.6g\nmean %.6g\n", result.global.lr.value(),
              result.global.weight_decay.value(), mean.mean);
  return 0;
}
