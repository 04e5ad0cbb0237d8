#include "transfer_command.hpp"

#include "muelab/theory/config_loader.hpp"
#include "muelab/theory/report.hpp"
#include "muelab/theory/rule_switches.hpp"
#include "muelab/theory/transfer.hpp"

#include <fmt/format.h>

#include <iostream>
#include <memory>

namespace muelab::cli {

namespace {

struct TransferOptions {
  std::string base, target, rule = "complete-mue", format = "table";
  std::vector<std::string> overrides;
  bool explain = false, compare = false;
};

int run_transfer(const TransferOptions& o) {
  using namespace muelab::theory;
  std::vector<RuleSource> rules;
  if (o.compare || o.rule == "all") {
    rules = all_rule_sources();
  } else if (const auto rule = parse_rule_source(o.rule)) {
    rules = {*rule};
  } else {
    std::cerr << fmt::format("muelab: error: --rule: unknown rule source \"{}\" (accepted: {}, all)\n", o.rule,
                             accepted_rule_names());
    return 2;
  }
  if (o.format != "table" && o.format != "json" && o.format != "csv") {
    std::cerr << fmt::format("muelab: error: --format: unknown format \"{}\" (accepted: table, json, csv)\n", o.format);
    return 2;
  }
  std::vector<std::string> base_overrides, target_overrides;
  for (const auto& s : o.overrides) {
    if (s.rfind("base.", 0) == 0) base_overrides.push_back(s.substr(5));
    else target_overrides.push_back(s.rfind("target.", 0) == 0 ? s.substr(7) : s);
  }
  std::vector<TransferResult> results;
  std::string source = o.target;
  try {
    source = o.base;
    const RunConfig base = load_run_config(o.base, ConfigRole::base, base_overrides);
    source = o.target;
    const RunConfig target = load_run_config(o.target, ConfigRole::target, target_overrides);
    for (const auto rule : rules) results.push_back(transfer(base, target, rule));
  } catch (const ConfigError& e) {
    std::cerr << "muelab: error: " << e.what() << "\n";
    return 2;
  } catch (const RuleRefusal& e) {
    std::cerr << fmt::format("muelab: error: {}: field {}: {}\n", source, e.field(), e.what());
    return 2;
  }
  // Everything is computed before anything is printed: an error leaves stdout empty.
  std::string output;
  if (o.format == "json") {
    if (results.size() == 1) {
      output = to_json(results.front()).dump(2);
    } else {
      nlohmann::json all = nlohmann::json::array();
      for (const auto& r : results) all.push_back(to_json(r));
      output = nlohmann::json{{"rules", all}}.dump(2);
    }
    output += "\n";
  } else if (o.format == "csv") {
    output = format_csv(results);
  } else if (results.size() == 1) {
    output = format_table(results.front());
  } else {
    output = format_comparison_table(results);
  }
  if (o.explain && o.format == "table")
    for (const auto& r : results) output += "\n" + format_explain(r);
  std::cout << output << std::flush;
  return 0;
}

}  // namespace

void add_transfer_command(CLI::App& app, int& exit_status) {
  auto options = std::make_shared<TransferOptions>();
  auto* cmd = app.add_subcommand("transfer", "Transfer tuned base hyperparameters to a target shape (docs/theory.md §2-§6)");
  // Derived from the one table of rule switches (muelab/theory/rule_switches.hpp).
  cmd->footer(theory::rule_switch_help_text() +
              "Exit status: 0 on success, 2 on bad input (one line on stderr, nothing on stdout).");
  cmd->add_option("--base", options->base, "base (proxy) config with the tuned [optim] hyperparameters")->required();
  cmd->add_option("--target", options->target, "target config ([model], [train], optional [rule])")->required();
  cmd->add_option("--rule", options->rule,
                  "rule source: sp, mup, completep, jiang, mup-moe, complete-mue, or all")->capture_default_str();
  cmd->add_option("--set", options->overrides,
                  "override a config key: table.key=value (target), base.table.key=value (base); repeatable");
  cmd->add_option("--format", options->format, "output format: table, json or csv")->capture_default_str();
  cmd->add_flag("--explain", options->explain,
                "print, per group and quantity, the chain of factors with the docs/theory.md section of each");
  cmd->add_flag("--compare", options->compare, "all rule sources side by side (same as --rule all)");
  cmd->callback([options, &exit_status] { exit_status = run_transfer(*options); });
}

void add_switches_command(CLI::App& app) {
  auto format = std::make_shared<std::string>("text");
  auto* cmd = app.add_subcommand("switches", "List the rule switches: values, default per rule source, sections "
                                             "(the README table is `muelab switches --format markdown`)");
  cmd->add_option("--format", *format, "text or markdown")->check(CLI::IsMember({"text", "markdown"}))->capture_default_str();
  cmd->callback([format] {
    std::cout << (*format == "markdown" ? theory::rule_switch_markdown_table() : theory::rule_switch_help_text())
              << std::flush;
  });
}

}  // namespace muelab::cli
