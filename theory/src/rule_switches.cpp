#include "muelab/theory/rule_switches.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace muelab::theory {

namespace {

using enum RuleSource;

const std::vector<RuleSource> kAllRules = {sp, mup, completep, jiang, mup_moe, complete_mue};

// Designated initializers leave the members a switch does not use at their defaults; GCC 12 still
// warns about them (-Wmissing-field-initializers), which says nothing here.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
std::vector<RuleSwitchSpec> make_table() {
  std::vector<RuleSwitchSpec> t;
  // docs/theory.md §3: CompleteP's depth exponent.
  t.push_back({.name = "depth_alpha",
               .kind = SwitchKind::number,
               .field = &RuleSwitches::depth_alpha,
               .description = "CompleteP α",
               .min = 0.5,
               .max = 1.0,
               .default_value = "1",
               .read_by = {completep, complete_mue},
               .section = "§3"});
  // §2 [open]: does the head also get the hidden init/LR factors under Complete-muE?
  t.push_back({.name = "head_rule",
               .field = &RuleSwitches::head_rule,
               .values = {{"mup", ""}, {"cmue-literal", "head also gets hidden init/LR factors"}},
               .default_value = "mup",
               .read_by = {complete_mue},
               .section = "§2 [open]"});
  t.push_back({.name = "wd_width_scaling",
               .field = &RuleSwitches::wd_width_scaling,
               .values = {{"none", ""}, {"coupled", "hidden WD × fan-in ratio, keeps ηλ"}},
               .default_value = "none",
               .rule_defaults = {{{mup, completep, mup_moe}, "coupled"}},
               .read_by = {mup, completep, mup_moe, complete_mue},
               .section = "§2 [open]"});
  t.push_back({.name = "eps_width_scaling",
               .field = &RuleSwitches::eps_width_scaling,
               .values = {{"completep", "hidden ε × ρ_d⁻¹"}, {"none", ""}},
               .default_value = "completep",
               .rule_defaults = {{{sp}, "none"}},
               .read_by = {mup, completep, jiang, mup_moe, complete_mue},
               .section = "§2 [open]"});
  t.push_back({.name = "batch_duration",
               .field = &RuleSwitches::batch_duration,
               .values = {{"sqrt", ""}, {"lr-only", "the §9 control"}, {"none", ""}},
               .default_value = "none",
               .rule_defaults = {{{complete_mue}, "sqrt"}},
               .read_by = kAllRules,
               .section = "§4"});
  t.push_back({.name = "beta_rule",
               .field = &RuleSwitches::beta_rule,
               .values = {{"linear", "1−β × q, refuses q(1−β) ≥ 1"}, {"power", "β^q"}},
               .default_value = "linear",
               .read_by = kAllRules,
               .section = "§4"});
  t.push_back({.name = "route_scale",
               .field = &RuleSwitches::route_scale,
               .values = {{"active", "R = a"}, {"none", "R = 1, the Bridge I control"}},
               .default_value = "active",
               .read_by = {complete_mue},
               .section = "§5.1"});
  t.push_back({.name = "jiang_router_gamma",
               .kind = SwitchKind::number,
               .field = &RuleSwitches::jiang_router_gamma,
               .description = "router init exponent γ",
               .min = 0.5,
               .max = 1.5,
               .default_value = "1",
               .read_by = {jiang},
               .section = "§6"});
  t.push_back({.name = "jiang_expert_down_init",
               .field = &RuleSwitches::jiang_expert_down_init,
               .values = {{"mean-field", "√d/h"}, {"fan-in", "the control"}},
               .default_value = "mean-field",
               .read_by = {jiang},
               .section = "§6"});
  t.push_back({.name = "jiang_expert_down_eps",
               .field = &RuleSwitches::jiang_expert_down_eps,
               .values = {{"transcribed", "r_d r_h⁻²"}, {"as-up", "r_h⁻¹"}},
               .default_value = "transcribed",
               .read_by = {jiang},
               .section = "§6 [open]"});
  t.push_back({.name = "jiang_weight_decay",
               .field = &RuleSwitches::jiang_weight_decay,
               .values = {{"none", ""}, {"coupled", ""}},
               .default_value = "none",
               .read_by = {jiang},
               .section = "§6 [open]"});
  t.push_back({.name = "mupmoe_router_form",
               .field = &RuleSwitches::mupmoe_router_form,
               .values = {{"init", "init, LR × r_d⁻¹"}, {"multiplier", "forward × r_d⁻¹, abc-equivalent"}},
               .default_value = "init",
               .read_by = {mup_moe},
               .section = "§6"});
  return t;
}
#pragma GCC diagnostic pop

std::string join_rules(const std::vector<RuleSource>& rules) {
  std::string out;
  for (const auto rule : rules) out += (out.empty() ? "" : ", ") + rule_name(rule);
  return out;
}

std::string format_number(double x) { return fmt::format("{}", x); }

/// "`mup` | `cmue-literal` (head also ...)" (markdown) or "mup | cmue-literal (head also ...)" (text).
std::string values_cell(const RuleSwitchSpec& s, bool markdown) {
  if (s.kind == SwitchKind::number)
    return fmt::format("{} in [{}, {}]", s.description, format_number(s.min), format_number(s.max));
  std::string out;
  for (const auto& v : s.values) {
    if (!out.empty()) out += markdown ? " \\| " : " | ";
    out += markdown ? fmt::format("`{}`", v.value) : std::string(v.value);
    if (!v.note.empty()) out += fmt::format(" ({})", v.note);
  }
  return out;
}

std::string default_cell(const RuleSwitchSpec& s, bool markdown) {
  const auto quote = [&](std::string_view v) {
    return markdown && s.kind == SwitchKind::choice ? fmt::format("`{}`", v) : std::string(v);
  };
  if (s.rule_defaults.empty()) return quote(s.default_value);
  std::string out;
  for (const auto& d : s.rule_defaults) out += fmt::format("{} for {}; ", quote(d.value), join_rules(d.rules));
  return out + quote(s.default_value) + " otherwise";
}

std::string read_by_cell(const RuleSwitchSpec& s) {
  return s.read_by.size() == kAllRules.size() ? std::string("all") : join_rules(s.read_by);
}

}  // namespace

const std::vector<RuleSwitchSpec>& rule_switch_table() {
  static const std::vector<RuleSwitchSpec> table = make_table();
  return table;
}

const RuleSwitchSpec* find_rule_switch(std::string_view name) {
  for (const auto& s : rule_switch_table())
    if (s.name == name) return &s;
  return nullptr;
}

std::string switch_default(const RuleSwitchSpec& spec, RuleSource rule) {
  for (const auto& d : spec.rule_defaults)
    for (const auto r : d.rules)
      if (r == rule) return std::string(d.value);
  return std::string(spec.default_value);
}

bool switch_read_by(const RuleSwitchSpec& spec, RuleSource rule) {
  for (const auto r : spec.read_by)
    if (r == rule) return true;
  return false;
}

std::string switch_value(const RuleSwitchSpec& spec, const RuleSwitches& switches, RuleSource rule) {
  return std::visit(
      [&](auto member) -> std::string {
        const auto& value = switches.*member;
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, double>)
          return format_number(value);
        else if constexpr (std::is_same_v<T, std::string>)
          return value;
        else
          return value.value_or(switch_default(spec, rule));
      },
      spec.field);
}

void set_switch(const RuleSwitchSpec& spec, RuleSwitches& switches, const std::string& text) {
  std::visit(
      [&](auto member) {
        auto& value = switches.*member;
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, double>)
          value = std::stod(text);
        else
          value = text;
      },
      spec.field);
}

std::string switch_accepted_text(const RuleSwitchSpec& spec) {
  if (spec.kind == SwitchKind::number)
    return fmt::format("number in [{}, {}]", format_number(spec.min), format_number(spec.max));
  std::string list;
  for (const auto& v : spec.values) list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", v.value);
  return list;
}

std::string rule_switch_names() {
  std::string out;
  for (const auto& s : rule_switch_table()) out += fmt::format("{}{}", out.empty() ? "" : ", ", s.name);
  return out;
}

std::string rule_switch_help_text() {
  std::string out =
      "Rule switches (docs/theory.md [open] items), set in the target's [rule] table or with --set rule.KEY=VALUE:\n";
  for (const auto& s : rule_switch_table())
    out += fmt::format("  {:<23}{}\n  {:<23}  default: {}; read by: {} (docs/theory.md {})\n", s.name,
                       values_cell(s, false), "", default_cell(s, false), read_by_cell(s), s.section);
  return out;
}

std::string rule_switch_markdown_table() {
  std::string out = "| switch | values | default | read by | docs/theory.md |\n|---|---|---|---|---|\n";
  for (const auto& s : rule_switch_table())
    out += fmt::format("| `{}` | {} | {} | {} | {} |\n", s.name, values_cell(s, true), default_cell(s, true),
                       read_by_cell(s), s.section);
  return out;
}

}  // namespace muelab::theory
