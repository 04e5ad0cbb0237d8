// The rule switches (every [open] item of docs/theory.md), declared once: name, kind, accepted
// values, default per rule source, the rule sources that read it, docs/theory.md section and help
// text. The config loader, the per-rule defaults of the engine, the "switches:" line of a result
// (and of --explain), the `muelab transfer --help` footer and the README table are all derived from
// this table (docs/development.md §2); tests/cli fails when the README table and the table disagree.
#pragma once

#include "muelab/theory/config.hpp"
#include "muelab/theory/transfer.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace muelab::theory {

enum class SwitchKind { number, choice };

/// One accepted value of a choice switch and what it means.
struct SwitchValue {
  std::string_view value;
  std::string_view note;  ///< e.g. "R = 1, the Bridge I control"; empty when the name says it all
};

/// A default that differs for some rule sources.
struct RuleDefault {
  std::vector<RuleSource> rules;
  std::string_view value;
};

/// Where the switch lives in RuleSwitches. A switch whose default depends on the rule source is an
/// optional string (unset means "the rule's default").
using SwitchField =
    std::variant<double RuleSwitches::*, std::string RuleSwitches::*, std::optional<std::string> RuleSwitches::*>;

struct RuleSwitchSpec {
  std::string_view name;
  SwitchKind kind = SwitchKind::choice;
  SwitchField field;
  std::string_view description;     ///< number: what it is ("CompleteP α"); choice: may be empty
  std::vector<SwitchValue> values;  ///< choice only
  double min = 0.0, max = 0.0;      ///< number only: accepted closed range
  std::string_view default_value;   ///< for every rule source not listed in rule_defaults
  std::vector<RuleDefault> rule_defaults;
  std::vector<RuleSource> read_by;  ///< the rule sources whose result depends on it
  std::string_view section;         ///< docs/theory.md section, e.g. "§2 [open]"
};

/// The table, in the order of the README and the --help footer.
[[nodiscard]] const std::vector<RuleSwitchSpec>& rule_switch_table();
/// nullptr for an unknown name.
[[nodiscard]] const RuleSwitchSpec* find_rule_switch(std::string_view name);
/// The default of `spec` under `rule`.
[[nodiscard]] std::string switch_default(const RuleSwitchSpec& spec, RuleSource rule);
[[nodiscard]] bool switch_read_by(const RuleSwitchSpec& spec, RuleSource rule);
/// The value of `spec` in `switches` under `rule` (an unset optional is the rule's default), as text.
[[nodiscard]] std::string switch_value(const RuleSwitchSpec& spec, const RuleSwitches& switches, RuleSource rule);
/// Sets `spec` from text already validated by the loader (number or accepted choice).
void set_switch(const RuleSwitchSpec& spec, RuleSwitches& switches, const std::string& text);
/// "number in [0.5, 1]" or "\"mup\", \"cmue-literal\"": what the loader's error message accepts.
[[nodiscard]] std::string switch_accepted_text(const RuleSwitchSpec& spec);
/// Comma-separated switch names: the accepted keys of the [rule] table.
[[nodiscard]] std::string rule_switch_names();

/// The `muelab transfer --help` footer block (plain text, one switch per line).
[[nodiscard]] std::string rule_switch_help_text();
/// The README's "Rule switches" markdown table (header, separator, one row per switch).
[[nodiscard]] std::string rule_switch_markdown_table();

}  // namespace muelab::theory
