#include "muelab/theory/report.hpp"

#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <sstream>

namespace muelab::theory {

namespace {

nlohmann::json number(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

nlohmann::json sde_json(const SdeObjects& s) {
  return {{"horizon", number(s.horizon)}, {"wd_rate", number(s.wd_rate)}, {"c1", number(s.c1)},
          {"c2", number(s.c2)},           {"eps0", number(s.eps0)},       {"ema_fraction", number(s.ema_fraction)},
          {"sigma0", number(s.sigma0)}};
}

std::string g4(double x) {
  if (std::isnan(x)) return "n/a";
  if (std::isinf(x)) return "inf";
  return fmt::format("{:.5g}", x);
}

struct Column {
  const char* title;
  std::function<double(const GroupResult&)> get;
};

const std::vector<Column>& group_columns() {
  static const std::vector<Column> columns = {
      {"init_std", [](const GroupResult& g) { return g.init_std.value(); }},
      {"multiplier", [](const GroupResult& g) { return g.multiplier.value(); }},
      {"lr", [](const GroupResult& g) { return g.lr.value(); }},
      {"weight_decay", [](const GroupResult& g) { return g.weight_decay.value(); }},
      {"eps", [](const GroupResult& g) { return g.eps.value(); }},
      {"beta1", [](const GroupResult& g) { return g.beta1.value(); }},
      {"beta2", [](const GroupResult& g) { return g.beta2.value(); }},
      {"sigma0_ratio", [](const GroupResult& g) { return g.sigma0_ratio; }},
  };
  return columns;
}

}  // namespace

nlohmann::json to_json(const TransferResult& r) {
  nlohmann::json j;
  j["rule"] = rule_name(r.rule);
  j["optimizer"] = to_string(r.optimizer);
  j["switches"] = r.switches;
  j["ratios"] = {{"width", r.ratios.width}, {"depth", r.ratios.depth}, {"batch", r.ratios.batch},
                 {"data", r.ratios.data},   {"steps", r.ratios.steps}, {"q", r.ratios.q}};
  j["global"] = {{"lr", r.global.lr.value()},       {"weight_decay", r.global.weight_decay.value()},
                 {"eps", r.global.eps.value()},     {"beta1", r.global.beta1.value()},
                 {"beta2", r.global.beta2.value()}, {"init_std", r.global.init_std.value()}};
  if (r.moe) {
    j["moe"] = {{"active_width", r.moe->active_width},
                {"active_width_base", r.moe->active_width_base},
                {"output_multiplier", r.moe->output_multiplier},
                {"route_scale_routed", r.moe->route_scale_routed},
                {"route_scale_shared", r.moe->route_scale_shared},
                {"gate_normalization", r.moe->gate_normalization},
                {"n_groups", r.moe->n_groups},
                {"routed_tokens_per_step", r.moe->routed_tokens_per_step}};
  }
  nlohmann::json groups = nlohmann::json::object();
  for (const auto& g : r.groups) {
    nlohmann::json entry;
    for (const auto& c : group_columns()) entry[c.title] = number(c.get(g));
    entry["tokens_per_step"] = g.tokens_per_step_target;
    entry["base_group"] = group_name(g.base_group);
    groups[group_name(g.group)] = entry;
  }
  j["groups"] = groups;
  j["architecture"] = {{"residual_multiplier", r.architecture.residual_multiplier.value()},
                       {"attention_logit_scale", r.architecture.attention_logit_scale},
                       {"attention_logit_rule", r.architecture.attention_logit_rule}};
  j["sde"] = {{"before", sde_json(r.sde_before)}, {"after", sde_json(r.sde_after)}};
  return j;
}

std::string format_table(const TransferResult& r) {
  std::ostringstream out;
  out << fmt::format("rule: {} — {}\n", rule_name(r.rule), rule_description(r.rule));
  out << fmt::format("ratios: width {:.6g}, depth {:.6g}, batch {:.6g}, data {:.6g}, steps {:.6g}, q = T/T' = {:.6g}\n",
                     r.ratios.width, r.ratios.depth, r.ratios.batch, r.ratios.data, r.ratios.steps, r.ratios.q);
  out << fmt::format("global (after batch/duration): lr {}  weight_decay {}  eps {}  beta1 {}  beta2 {}  init_std {}\n",
                     g4(r.global.lr.value()), g4(r.global.weight_decay.value()), g4(r.global.eps.value()),
                     g4(r.global.beta1.value()), g4(r.global.beta2.value()), g4(r.global.init_std.value()));
  if (r.moe)
    out << fmt::format("moe: active width H_act {:g} (base {:g}), output multiplier A {}, route scale routed {} / shared {}, "
                       "gates normalized: {}, groups {}, routed tokens/step {:g}\n",
                       r.moe->active_width, r.moe->active_width_base, g4(r.moe->output_multiplier),
                       g4(r.moe->route_scale_routed), g4(r.moe->route_scale_shared), r.moe->gate_normalization,
                       r.moe->n_groups, r.moe->routed_tokens_per_step);
  out << fmt::format("architecture: residual branch multiplier {}, attention logits x {} ({})\n",
                     g4(r.architecture.residual_multiplier.value()), g4(r.architecture.attention_logit_scale),
                     r.architecture.attention_logit_rule);
  std::string switches;
  for (const auto& [k, v] : r.switches) switches += fmt::format("{}{}={}", switches.empty() ? "" : ", ", k, v);
  out << "switches: " << switches << "\n\n";
  out << fmt::format("{:<13}", "group");
  for (const auto& c : group_columns()) out << fmt::format(" {:>12}", c.title);
  out << "\n";
  for (const auto& g : r.groups) {
    out << fmt::format("{:<13}", group_name(g.group));
    for (const auto& c : group_columns()) out << fmt::format(" {:>12}", g4(c.get(g)));
    out << "\n";
  }
  out << fmt::format("\nSDE objects (§4, {} time):  {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}\n",
                     r.optimizer == OptimizerKind::sgd ? "t=k*lr" : "t=k*lr^2", "horizon", "wd_rate", "c1", "c2",
                     "eps0", "ema_fraction", "sigma0");
  for (const auto& [name, s] : {std::pair{"before", r.sde_before}, std::pair{"after", r.sde_after}})
    out << fmt::format("  {:<30} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}\n", name, g4(s.horizon), g4(s.wd_rate),
                       g4(s.c1), g4(s.c2), g4(s.eps0), g4(s.ema_fraction), g4(s.sigma0));
  return out.str();
}

std::string format_explain(const TransferResult& r) {
  std::ostringstream out;
  out << fmt::format("rule {}: each value is the base value times the factors below.\n", rule_name(r.rule));
  const auto explain = [&](const std::string& label, const Quantity& q) {
    out << fmt::format("  {:<20} = {} ({})", label, g4(q.base), q.base_note);
    if (q.mode == Quantity::Mode::complement) out << " [factors act on 1-beta]";
    if (q.mode == Quantity::Mode::power) out << " [factors are the exponent]";
    out << "\n";
    for (const auto& f : q.factors)
      out << fmt::format("  {:<20}   x {:<10} {:<16} {}  — {}\n", "", g4(f.value), "[" + to_string(f.axis) + "]", f.formula,
                         f.source);
    out << fmt::format("  {:<20}   = {}\n", "", g4(q.value()));
  };
  for (const auto& g : r.groups) {
    out << fmt::format("\n{} (compared with base group {}; tokens/step {:g} -> {:g})\n", group_name(g.group),
                       group_name(g.base_group), g.tokens_per_step_base, g.tokens_per_step_target);
    explain("init_std", g.init_std);
    explain("multiplier", g.multiplier);
    explain("lr", g.lr);
    explain("weight_decay", g.weight_decay);
    explain("eps", g.eps);
    explain("beta1", g.beta1);
    explain("beta2", g.beta2);
    out << fmt::format("  {:<20} = {}  (lr ratio without width/Bridge I factors x sqrt(tokens {:g}/{:g}); docs/theory.md §4, §5.2)\n",
                       "sigma0_ratio", g4(g.sigma0_ratio), g.tokens_per_step_base, g.tokens_per_step_target);
  }
  out << "\narchitecture\n";
  explain("residual_multiplier", r.architecture.residual_multiplier);
  if (r.moe)
    out << fmt::format("  route scale R: {} on the routed sum (gates normalized: {}), {} on shared experts — docs/theory.md {}\n",
                       g4(r.moe->route_scale_routed), r.moe->gate_normalization, g4(r.moe->route_scale_shared),
                       r.rule == RuleSource::jiang ? "§6 [JIANG]" : "§5.1 [CMUE]");
  return out.str();
}

std::string format_csv(const std::vector<TransferResult>& results) {
  std::ostringstream out;
  out << "rule,group";
  for (const auto& c : group_columns()) out << "," << c.title;
  out << ",tokens_per_step\n";
  for (const auto& r : results)
    for (const auto& g : r.groups) {
      out << rule_name(r.rule) << "," << group_name(g.group);
      for (const auto& c : group_columns()) {
        const double v = c.get(g);
        out << "," << (std::isfinite(v) ? fmt::format("{:.17g}", v) : std::string());
      }
      out << fmt::format(",{:.17g}\n", g.tokens_per_step_target);
    }
  return out.str();
}

std::string format_comparison_table(const std::vector<TransferResult>& results) {
  std::ostringstream out;
  if (results.empty()) return "";
  const auto& first = results.front();
  out << fmt::format("rule sources side by side — ratios: width {:.6g}, depth {:.6g}, batch {:.6g}, data {:.6g}, q {:.6g}\n",
                     first.ratios.width, first.ratios.depth, first.ratios.batch, first.ratios.data, first.ratios.q);
  for (const auto& c : group_columns()) {
    out << fmt::format("\n{:<13}", c.title);
    for (const auto& r : results) out << fmt::format(" {:>13}", rule_name(r.rule));
    out << "\n";
    for (std::size_t i = 0; i < first.groups.size(); ++i) {
      out << fmt::format("{:<13}", group_name(first.groups[i].group));
      for (const auto& r : results) out << fmt::format(" {:>13}", g4(c.get(r.groups[i])));
      out << "\n";
    }
  }
  out << fmt::format("\n{:<13}", "MoE / block");
  for (const auto& r : results) out << fmt::format(" {:>13}", rule_name(r.rule));
  const auto row = [&](const char* name, const std::function<double(const TransferResult&)>& get) {
    out << fmt::format("\n{:<13}", name);
    for (const auto& r : results) out << fmt::format(" {:>13}", g4(get(r)));
  };
  if (first.moe) {
    row("A", [](const TransferResult& r) { return r.moe->output_multiplier; });
    row("R routed", [](const TransferResult& r) { return r.moe->route_scale_routed; });
  }
  row("residual", [](const TransferResult& r) { return r.architecture.residual_multiplier.value(); });
  row("attn logit", [](const TransferResult& r) { return r.architecture.attention_logit_scale; });
  row("global lr", [](const TransferResult& r) { return r.global.lr.value(); });
  out << "\n";
  return out.str();
}

}  // namespace muelab::theory
