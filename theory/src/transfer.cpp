#include "muelab/theory/transfer.hpp"

#include "muelab/theory/abc_symmetry.hpp"
#include "muelab/theory/bridge.hpp"
#include "muelab/theory/rule_switches.hpp"

#include <fmt/format.h>

#include <cmath>

namespace muelab::theory {

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

std::string rule_name(RuleSource rule) {
  switch (rule) {
    case RuleSource::sp: return "sp";
    case RuleSource::mup: return "mup";
    case RuleSource::completep: return "completep";
    case RuleSource::jiang: return "jiang";
    case RuleSource::mup_moe: return "mup-moe";
    case RuleSource::complete_mue: return "complete-mue";
  }
  return "unknown";
}

const std::vector<RuleSource>& all_rule_sources() {
  static const std::vector<RuleSource> rules = {RuleSource::sp,    RuleSource::mup,     RuleSource::completep,
                                                RuleSource::jiang, RuleSource::mup_moe, RuleSource::complete_mue};
  return rules;
}

std::optional<RuleSource> parse_rule_source(const std::string& name) {
  for (const auto rule : all_rule_sources())
    if (rule_name(rule) == name) return rule;
  return std::nullopt;
}

std::string accepted_rule_names() {
  std::string names;
  for (const auto rule : all_rule_sources()) names += (names.empty() ? "" : ", ") + rule_name(rule);
  return names;
}

std::string rule_description(RuleSource rule) {
  switch (rule) {
    case RuleSource::sp: return "standard parameterization: nothing scales (the negative control)";
    case RuleSource::mup: return "muP for Adam/AdamW, fan-in form, width only (docs/theory.md §2, [TP5])";
    case RuleSource::completep: return "muP + CompleteP depth, alpha configurable (docs/theory.md §2-§3, [CP])";
    case RuleSource::jiang: return "Jiang et al. DMFT parameterization (docs/theory.md §6, [JIANG])";
    case RuleSource::mup_moe: return "muP for MoE: experts hidden, router output-type (docs/theory.md §6, [MUPMOE])";
    case RuleSource::complete_mue:
      return "Complete-muE: Bridge I + muP width + CompleteP depth + sqrt batch/duration (docs/theory.md §5, [CMUE])";
  }
  return "";
}

std::string to_string(FactorAxis axis) {
  switch (axis) {
    case FactorAxis::width: return "width";
    case FactorAxis::depth: return "depth";
    case FactorAxis::batch_duration: return "batch/duration";
    case FactorAxis::bridge1: return "Bridge I";
    case FactorAxis::parameterization: return "parameterization";
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// Quantity
// ---------------------------------------------------------------------------------------------

double Quantity::factor_product() const {
  double product = 1.0;
  for (const auto& f : factors) product *= f.value;
  return product;
}

double Quantity::factor_product_excluding(const std::vector<FactorAxis>& excluded) const {
  double product = 1.0;
  for (const auto& f : factors) {
    bool skip = false;
    for (const auto axis : excluded) skip = skip || f.axis == axis;
    if (!skip) product *= f.value;
  }
  return product;
}

double Quantity::value() const {
  switch (mode) {
    case Mode::product: return base * factor_product();
    case Mode::complement: return 1.0 - (1.0 - base) * factor_product();
    case Mode::power: return std::pow(base, factor_product());
  }
  return base;
}

double Quantity::complement_value() const {
  switch (mode) {
    case Mode::product: return 1.0 - value();
    case Mode::complement: return (1.0 - base) * factor_product();
    case Mode::power: return -std::expm1(factor_product() * std::log(base));
  }
  return 1.0 - value();
}

const GroupResult* TransferResult::find(ParameterGroup group) const {
  for (const auto& g : groups)
    if (g.group == group) return &g;
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------

namespace {

constexpr const char* kWidthSection = "docs/theory.md §2 [TP5, CP]";
constexpr const char* kDepthSection = "docs/theory.md §3 [CP]";
constexpr const char* kBatchSection = "docs/theory.md §4 [CMUE Table 2, CDP, MALLADI]";
constexpr const char* kBridgeSection = "docs/theory.md §5.1 [CMUE]";
constexpr const char* kJiangSection = "docs/theory.md §6 [JIANG]";
constexpr const char* kMupMoeSection = "docs/theory.md §6 [MUPMOE]";

/// Switches after applying each rule source's documented defaults.
struct ResolvedSwitches {
  double depth_alpha = 1.0;
  std::string head_rule;
  std::string wd_width_scaling;
  std::string eps_width_scaling;
  BatchDurationMode batch_duration = BatchDurationMode::none;
  std::string beta_rule;
  bool route_scale_active = true;
  double jiang_router_gamma = 1.0;
  std::string jiang_expert_down_init;
  std::string jiang_expert_down_eps;
  std::string jiang_weight_decay;
  std::string mupmoe_router_form;
};

/// The switches as the engine reads them: every per-rule default from the table
/// (muelab/theory/rule_switches.hpp), e.g. wd_width_scaling "coupled" for the μP family (§2 [open]).
ResolvedSwitches resolve_switches(RuleSource rule, const RuleSwitches& s) {
  const auto value = [&](std::string_view name) { return switch_value(*find_rule_switch(name), s, rule); };
  ResolvedSwitches r;
  r.depth_alpha = s.depth_alpha;
  r.head_rule = s.head_rule;
  r.wd_width_scaling = value("wd_width_scaling");
  r.eps_width_scaling = value("eps_width_scaling");
  r.batch_duration = parse_batch_duration_mode(value("batch_duration"));
  r.beta_rule = s.beta_rule;
  r.route_scale_active = s.route_scale == "active";
  r.jiang_router_gamma = s.jiang_router_gamma;
  r.jiang_expert_down_init = s.jiang_expert_down_init;
  r.jiang_expert_down_eps = s.jiang_expert_down_eps;
  r.jiang_weight_decay = s.jiang_weight_decay;
  r.mupmoe_router_form = s.mupmoe_router_form;
  return r;
}

/// The "switches:" of a result: every switch the rule source reads, with its value under that rule.
std::map<std::string, std::string> describe_switches(RuleSource rule, const RuleSwitches& s) {
  std::map<std::string, std::string> out;
  for (const auto& spec : rule_switch_table())
    if (switch_read_by(spec, rule)) out[std::string(spec.name)] = switch_value(spec, s, rule);
  return out;
}

std::string ratio_text(const char* symbol, double exponent, double ratio) {
  return fmt::format("{}^{} ({}={:.6g})", symbol, exponent, symbol, ratio);
}

Factor power_factor(FactorAxis axis, const char* symbol, double ratio, double exponent, const char* source) {
  return {axis, std::pow(ratio, exponent), ratio_text(symbol, exponent, ratio), source};
}

bool is_expert_like(ParameterGroup g) {
  switch (g) {
    case ParameterGroup::ffn_up: case ParameterGroup::ffn_gate: case ParameterGroup::ffn_down:
    case ParameterGroup::expert_up: case ParameterGroup::expert_gate: case ParameterGroup::expert_down:
    case ParameterGroup::shared_up: case ParameterGroup::shared_gate: case ParameterGroup::shared_down: return true;
    default: return false;
  }
}

/// Width of the FFN/expert a group belongs to (H, h or h_s).
double ffn_unit_width(ParameterGroup g, const ModelConfig& m) {
  switch (g) {
    case ParameterGroup::ffn_up: case ParameterGroup::ffn_gate: case ParameterGroup::ffn_down:
      return static_cast<double>(m.d_ffn);
    case ParameterGroup::expert_up: case ParameterGroup::expert_gate: case ParameterGroup::expert_down:
      return static_cast<double>(m.d_expert);
    default: return static_cast<double>(m.d_shared);
  }
}

class Engine {
 public:
  Engine(const RunConfig& base, const RunConfig& target, RuleSource rule)
      : base_(base), target_(target), rule_(rule), sw_(resolve_switches(rule, target.rule)) {
    const auto& bm = base.model;
    const auto& tm = target.model;
    ratios_.width = static_cast<double>(tm.d_model) / static_cast<double>(bm.d_model);
    ratios_.depth = static_cast<double>(tm.n_layers) / static_cast<double>(bm.n_layers);
    ratios_.batch = target.train.tokens_per_step() / base.train.tokens_per_step();
    ratios_.data = target.train.tokens_total() / base.train.tokens_total();
    ratios_.steps = static_cast<double>(target.train.steps) / static_cast<double>(base.train.steps);
    ratios_.q = batch_duration_q(base.train, target.train);
    optimizer_ = base.optim->name;
    batch_factors_ = batch_duration_factors(ratios_.q, optimizer_, sw_.batch_duration);
  }

  TransferResult run() {
    const auto& optim = *base_.optim;
    if ((rule_ == RuleSource::jiang || rule_ == RuleSource::mup_moe) && optimizer_ == OptimizerKind::sgd)
      throw RuleRefusal("optim.name", fmt::format("rule {} is defined for Adam-type optimizers only (accepted "
                                                  "optim.name: adamw, adam)", rule_name(rule_)));
    TransferResult result;
    result.rule = rule_;
    result.optimizer = optimizer_;
    result.switches = describe_switches(rule_, target_.rule);
    result.ratios = ratios_;

    auto& global = result.global;
    global.lr = {optim.lr, "tuned base LR", Quantity::Mode::product, {}};
    global.weight_decay = {optim.weight_decay, "tuned base WD (coupled)", Quantity::Mode::product, {}};
    global.eps = {optim.eps, "tuned base eps", Quantity::Mode::product, {}};
    global.beta1 = beta_quantity(optim.beta1, "tuned base beta1");
    global.beta2 = beta_quantity(optim.beta2, "tuned base beta2");
    global.init_std = {optim.init_std, "tuned base init std", Quantity::Mode::product, {}};
    apply_batch_duration(global.lr, global.weight_decay, global.eps, global.beta1, global.beta2);
    check_beta(global.beta1, "optim.beta1");
    check_beta(global.beta2, "optim.beta2");

    for (const auto group : groups_present(target_.model)) result.groups.push_back(group_result(group));
    result.architecture = architecture();
    if (target_.model.is_moe()) result.moe = moe_summary();
    sde(result);
    return result;
  }

 private:
  Quantity beta_quantity(double beta, std::string note) const {
    Quantity q{beta, std::move(note), sw_.beta_rule == "power" ? Quantity::Mode::power : Quantity::Mode::complement, {}};
    return q;
  }

  void check_beta(const Quantity& beta, const std::string& field) const {
    if (beta.mode == Quantity::Mode::complement)
      (void)scale_beta(beta.base, batch_factors_, "linear", field);  // throws when q(1−β) ≥ 1
  }

  void apply_batch_duration(Quantity& lr, Quantity& wd, Quantity& eps, Quantity& beta1, Quantity& beta2) const {
    if (sw_.batch_duration == BatchDurationMode::none) return;
    const bool adaptive = optimizer_ != OptimizerKind::sgd;
    const double q = ratios_.q;
    lr.apply({FactorAxis::batch_duration, batch_factors_.lr, adaptive ? fmt::format("q^1/2 (q=T/T'={:.6g})", q)
                                                                     : fmt::format("q (q=T/T'={:.6g}, SGD)", q),
              kBatchSection});
    if (sw_.batch_duration == BatchDurationMode::lr_only) return;
    if (adaptive) {
      wd.apply({FactorAxis::batch_duration, batch_factors_.weight_decay, fmt::format("q^1/2 (q={:.6g})", q), kBatchSection});
      eps.apply({FactorAxis::batch_duration, batch_factors_.eps, fmt::format("q^-1/2 (q={:.6g})", q), kBatchSection});
    }
    const bool power = sw_.beta_rule == "power";
    const auto beta_factor = [&] {
      return Factor{FactorAxis::batch_duration, power ? batch_factors_.beta_power : batch_factors_.one_minus_beta,
                    power ? fmt::format("beta^q (q={:.6g})", q) : fmt::format("(1-beta) x q (q={:.6g})", q),
                    kBatchSection};
    };
    beta1.apply(beta_factor());
    if (adaptive) beta2.apply(beta_factor());
  }

  [[nodiscard]] bool has_depth_rule() const {
    return rule_ == RuleSource::completep || rule_ == RuleSource::complete_mue;
  }

  GroupResult group_result(ParameterGroup group) const {
    const auto& optim = *base_.optim;
    GroupResult g;
    g.group = group;
    g.base_group = base_counterpart(group, base_.model);
    const auto cls = group_class(group);
    g.init_std = {optim.init_std, "tuned base init std", Quantity::Mode::product, {}};
    g.multiplier = {1.0, "base-shape forward multiplier", Quantity::Mode::product, {}};
    g.lr = {optim.lr, "tuned base LR", Quantity::Mode::product, {}};
    const bool no_decay = cls == GroupClass::input_like && group != ParameterGroup::embedding && has_depth_rule();
    g.weight_decay = {no_decay ? 0.0 : optim.weight_decay,
                      no_decay ? "no weight decay on norm gains and biases (docs/theory.md §3 [CP])" : "tuned base WD (coupled)",
                      Quantity::Mode::product, {}};
    g.eps = {optim.eps, "tuned base eps", Quantity::Mode::product, {}};
    g.beta1 = beta_quantity(optim.beta1, "tuned base beta1");
    g.beta2 = beta_quantity(optim.beta2, "tuned base beta2");
    apply_batch_duration(g.lr, g.weight_decay, g.eps, g.beta1, g.beta2);

    switch (rule_) {
      case RuleSource::sp: break;
      case RuleSource::mup:
      case RuleSource::completep:
      case RuleSource::mup_moe: apply_mup_fan_in(g); break;
      case RuleSource::complete_mue: apply_complete_mue_width(g); break;
      case RuleSource::jiang: apply_jiang(g); break;
    }
    if (has_depth_rule()) apply_completep_depth(g);

    g.tokens_per_step_base = group_tokens_per_step(g.base_group, base_.model, base_.train);
    g.tokens_per_step_target = group_tokens_per_step(group, target_.model, target_.train);
    g.sigma0_ratio = sigma0_ratio(g.lr.factor_product_excluding({FactorAxis::width, FactorAxis::bridge1}),
                                  g.tokens_per_step_base, g.tokens_per_step_target, optimizer_);
    return g;
  }

  /// μP for a hidden matrix whose fan-in ratio is `fan_ratio` (§2): init ×r^{-1/2}, Adam LR ×r^{-1}
  /// (SGD ×1), ε ×r^{-1} (switch), coupled WD ×r (switch; keeps ηλ).
  void apply_hidden_width(GroupResult& g, double fan_ratio, const char* symbol) const {
    const bool adaptive = optimizer_ != OptimizerKind::sgd;
    g.init_std.apply(power_factor(FactorAxis::width, symbol, fan_ratio, -0.5, kWidthSection));
    if (adaptive) g.lr.apply(power_factor(FactorAxis::width, symbol, fan_ratio, -1.0, kWidthSection));
    if (adaptive && sw_.eps_width_scaling == "completep")
      g.eps.apply(power_factor(FactorAxis::width, symbol, fan_ratio, -1.0, "docs/theory.md §2 [CP] (switch eps_width_scaling)"));
    if (adaptive && sw_.wd_width_scaling == "coupled")
      g.weight_decay.apply(power_factor(FactorAxis::width, symbol, fan_ratio, 1.0,
                                        "docs/theory.md §2 [WA] (switch wd_width_scaling=coupled keeps eta*lambda)"));
  }

  /// μP for input-like (fan-in fixed) groups: Adam ×1; SGD LR ×fan_out ratio (Table 3 of [TP5]).
  void apply_input_width(GroupResult& g) const {
    if (optimizer_ == OptimizerKind::sgd)
      g.lr.apply(power_factor(FactorAxis::width, "rho_d", ratios_.width, 1.0, "docs/theory.md §2 [TP5] (SGD: LR x fan_out)"));
  }

  /// μP head in multiplier form: forward ×ρ_d^{-1}, init ×1, Adam LR ×1 (SGD ×ρ_d by the abc-symmetry).
  void apply_head_width(GroupResult& g) const {
    g.multiplier.apply(power_factor(FactorAxis::width, "rho_d", ratios_.width, -1.0, kWidthSection));
    if (optimizer_ == OptimizerKind::sgd)
      g.lr.apply(power_factor(FactorAxis::width, "rho_d", ratios_.width, 1.0, "docs/theory.md §2 [TP5] (SGD head, multiplier form)"));
  }

  double fan_in_ratio(const GroupResult& g) const {
    return group_fan_in(g.group, target_.model) / group_fan_in(g.base_group, base_.model);
  }

  void apply_mup_fan_in(GroupResult& g) const {
    switch (group_class(g.group)) {
      case GroupClass::input_like: apply_input_width(g); break;
      case GroupClass::output: apply_head_width(g); break;
      case GroupClass::hidden:
      case GroupClass::down_projection:
        if (rule_ == RuleSource::mup_moe && g.group == ParameterGroup::router) {
          apply_mupmoe_router(g);
        } else {
          apply_hidden_width(g, fan_in_ratio(g), group_class(g.group) == GroupClass::down_projection ? "fan_in" : "rho_d");
        }
        break;
    }
  }

  /// [MUPMOE]: the router is an output-type weight: init ×r_d^{-1}, LR ×r_d^{-1}; or, by the
  /// abc-symmetry with θ = r_d^{-1}, multiplier ×r_d^{-1} with init and LR ×1.
  void apply_mupmoe_router(GroupResult& g) const {
    const double rd = ratios_.width;
    g.init_std.apply(power_factor(FactorAxis::width, "r_d", rd, -1.0, kMupMoeSection));
    g.lr.apply(power_factor(FactorAxis::width, "r_d", rd, -1.0, kMupMoeSection));
    if (sw_.wd_width_scaling == "coupled")
      g.weight_decay.apply(power_factor(FactorAxis::width, "r_d", rd, 1.0, "docs/theory.md §2 [WA] (keeps eta*lambda)"));
    if (sw_.mupmoe_router_form != "multiplier") return;
    const GroupParameterization init_form{1.0, 1.0, 1.0, 1.0, 1.0};
    const auto m = abc_reparameterize(init_form, 1.0 / rd, optimizer_);
    const char* why = "docs/theory.md §2 abc-symmetry (mupmoe_router_form=multiplier, theta=r_d^-1)";
    g.multiplier.apply({FactorAxis::parameterization, m.multiplier, "theta", why});
    g.init_std.apply({FactorAxis::parameterization, m.init_std, "theta^-1", why});
    g.lr.apply({FactorAxis::parameterization, m.lr, "theta^-1", why});
    g.eps.apply({FactorAxis::parameterization, m.eps, "theta", why});
    g.weight_decay.apply({FactorAxis::parameterization, m.weight_decay, "theta", why});
  }

  /// Complete-muE width (§5.1 + §2): every hidden matrix, down-projections included, gets plain μP
  /// factors in d; the down-projections additionally get Bridge I (init ×√(H_act/d), output
  /// multiplier A = d/H_act), both relative to the base so that the base shape is the identity.
  void apply_complete_mue_width(GroupResult& g) const {
    switch (group_class(g.group)) {
      case GroupClass::input_like: apply_input_width(g); break;
      case GroupClass::hidden: apply_hidden_width(g, ratios_.width, "rho_d"); break;
      case GroupClass::down_projection: {
        apply_hidden_width(g, ratios_.width, "rho_d");
        const double init_ratio = bridge1_down_init_factor(target_.model) / bridge1_down_init_factor(base_.model);
        g.init_std.apply({FactorAxis::bridge1, init_ratio,
                          fmt::format("sqrt(H_act/d) = sqrt({:g}/{}) (base sqrt({:g}/{}))", active_width(target_.model),
                                      target_.model.d_model, active_width(base_.model), base_.model.d_model),
                          kBridgeSection});
        const double a_ratio = active_width_output_multiplier(target_.model) /
                               active_width_output_multiplier(base_.model);
        g.multiplier.apply({FactorAxis::bridge1, a_ratio,
                            fmt::format("A = d/H_act = {}/{:g} (base {}/{:g})", target_.model.d_model,
                                        active_width(target_.model), base_.model.d_model, active_width(base_.model)),
                            kBridgeSection});
        if (optimizer_ == OptimizerKind::sgd)  // abc-symmetry for SGD: LR ×A^{-2} keeps A·W's update
          g.lr.apply({FactorAxis::bridge1, 1.0 / (a_ratio * a_ratio), "A^-2 (SGD abc-symmetry)", kBridgeSection});
        break;
      }
      case GroupClass::output:
        apply_head_width(g);
        if (sw_.head_rule == "cmue-literal") {
          const char* why = "docs/theory.md §2 note (head_rule=cmue-literal)";
          g.init_std.apply(power_factor(FactorAxis::width, "rho_d", ratios_.width, -0.5, why));
          g.lr.apply(power_factor(FactorAxis::width, "rho_d", ratios_.width, -1.0, why));
        }
        break;
    }
  }

  /// CompleteP depth (§3): hidden LR ×ρ_L^{α−1}, hidden ε ×ρ_L^{-α}; gains/biases LR ×ρ_L^{α−1}.
  void apply_completep_depth(GroupResult& g) const {
    const double alpha = sw_.depth_alpha;
    const double rl = ratios_.depth;
    const auto cls = group_class(g.group);
    const bool hidden = cls == GroupClass::hidden || cls == GroupClass::down_projection;
    const bool gain_or_bias = g.group == ParameterGroup::norm || g.group == ParameterGroup::bias;
    if (hidden || gain_or_bias) g.lr.apply(power_factor(FactorAxis::depth, "rho_L", rl, alpha - 1.0, kDepthSection));
    if (hidden && optimizer_ != OptimizerKind::sgd)
      g.eps.apply(power_factor(FactorAxis::depth, "rho_L", rl, -alpha, kDepthSection));
  }

  /// [JIANG] Table (§6), with r_d = d/d0, r_h = h/h0, r_α = r_h/r_d; dense FFNs and shared experts
  /// are treated as experts of their own width (a dense base has h0 = H*).
  void apply_jiang(GroupResult& g) const {
    const double rd = ratios_.width;
    const double rl = ratios_.depth;
    const double rh = is_expert_like(g.group)
                          ? ffn_unit_width(g.group, target_.model) / ffn_unit_width(g.base_group, base_.model)
                          : 1.0;
    const double ralpha = rh / rd;
    const auto init = [&](double v, std::string f) { g.init_std.apply({FactorAxis::width, v, std::move(f), kJiangSection}); };
    const auto lr = [&](double v, std::string f) { g.lr.apply({FactorAxis::width, v, std::move(f), kJiangSection}); };
    const auto eps = [&](double v, std::string f) { g.eps.apply({FactorAxis::width, v, std::move(f), kJiangSection}); };
    const auto depth_eps = [&] { g.eps.apply(power_factor(FactorAxis::depth, "rho_L", rl, -1.0, kJiangSection)); };
    const std::string rd_s = fmt::format("r_d={:.6g}", rd);
    const std::string rh_s = fmt::format("r_h={:.6g}", rh);
    double lr_width = 1.0;
    switch (g.group) {
      case ParameterGroup::embedding: eps(1.0 / rd, "r_d^-1 (" + rd_s + ")"); break;
      case ParameterGroup::head:
        g.multiplier.apply({FactorAxis::width, 1.0 / rd, "r_d^-1 tied readout (" + rd_s + ")", kJiangSection});
        eps(1.0 / rd, "r_d^-1 (" + rd_s + ")");
        break;
      case ParameterGroup::norm:
      case ParameterGroup::bias: break;
      case ParameterGroup::attn_qkv:
      case ParameterGroup::attn_out:
        init(std::pow(rd, -0.5), "r_d^-1/2 (" + rd_s + ")");
        lr(1.0 / rd, "r_d^-1 (" + rd_s + ")");
        lr_width = 1.0 / rd;
        eps(1.0 / rd, "r_d^-1 (" + rd_s + ")");
        depth_eps();
        break;
      case ParameterGroup::router:
        init(std::pow(rd, -sw_.jiang_router_gamma), fmt::format("r_d^-gamma (gamma={}, {})", sw_.jiang_router_gamma, rd_s));
        lr(1.0 / rd, "r_d^-1 (" + rd_s + ")");
        lr_width = 1.0 / rd;
        eps(1.0 / rd, "r_d^-1 (" + rd_s + ")");
        depth_eps();
        break;
      case ParameterGroup::ffn_down:
      case ParameterGroup::expert_down:
      case ParameterGroup::shared_down:
        init(std::pow(rd, -0.5), "r_d^-1/2 (" + rd_s + ")");
        if (sw_.jiang_expert_down_init == "mean-field")
          init(1.0 / ralpha, fmt::format("r_alpha^-1 mean-field sqrt(d)/h (r_alpha={:.6g})", ralpha));
        lr(1.0 / rh, "r_h^-1 (" + rh_s + ")");
        lr_width = 1.0 / rh;
        if (sw_.jiang_expert_down_eps == "transcribed")
          eps(rd / (rh * rh), "r_d r_h^-2 [open] (" + rd_s + ", " + rh_s + ")");
        else
          eps(1.0 / rh, "r_h^-1 (jiang_expert_down_eps=as-up, " + rh_s + ")");
        depth_eps();
        break;
      default:  // up and gate projections of dense FFN, routed and shared experts
        init(std::pow(rd, -0.5), "r_d^-1/2 (" + rd_s + ")");
        lr(1.0 / rd, "r_d^-1 (" + rd_s + ")");
        lr_width = 1.0 / rd;
        eps(1.0 / rh, "r_h^-1 (" + rh_s + ")");
        depth_eps();
        break;
    }
    if (sw_.jiang_weight_decay == "coupled" && lr_width != 1.0)
      g.weight_decay.apply({FactorAxis::width, 1.0 / lr_width, "inverse LR width factor (jiang_weight_decay=coupled)",
                            "docs/theory.md §6 [open] + [WA]"});
  }

  Architecture architecture() const {
    Architecture a;
    a.residual_multiplier = {1.0, "base-shape residual branch multiplier", Quantity::Mode::product, {}};
    if (has_depth_rule())
      a.residual_multiplier.apply(power_factor(FactorAxis::depth, "rho_L", ratios_.depth, -sw_.depth_alpha, kDepthSection));
    if (rule_ == RuleSource::jiang)
      a.residual_multiplier.apply(power_factor(FactorAxis::depth, "rho_L", ratios_.depth, -1.0, kJiangSection));
    const double d_head = static_cast<double>(target_.model.d_head);
    if (rule_ == RuleSource::sp) {
      a.attention_logit_scale = 1.0 / std::sqrt(d_head);
      a.attention_logit_rule = "1/sqrt(d_head)";
    } else {
      a.attention_logit_scale = 1.0 / d_head;
      a.attention_logit_rule = "1/d_head";
    }
    return a;
  }

  MoeSummary moe_summary() const {
    const auto& m = target_.model;
    MoeSummary s;
    s.active_width = active_width(m);
    s.active_width_base = active_width(base_.model);
    s.n_groups = m.n_groups;
    s.routed_tokens_per_step = routed_expert_tokens_per_step(target_.train.tokens_per_step(),
                                                             static_cast<double>(m.n_active), static_cast<double>(m.n_experts));
    s.gate_normalization = "active-set";
    if (rule_ == RuleSource::complete_mue) {
      s.output_multiplier = active_width_output_multiplier(m) / active_width_output_multiplier(base_.model);
      s.route_scale_routed = complete_mue_route_scale(m, sw_.route_scale_active);
    } else if (rule_ == RuleSource::jiang) {
      s.gate_normalization = "none";  // (1/a) Σ_active g_i E_i with raw sigmoid gates (§6)
      s.route_scale_routed = 1.0 / static_cast<double>(m.n_active);
    }
    return s;
  }

  void sde(TransferResult& r) const {
    const auto& optim = *base_.optim;
    r.sde_before = sde_objects(optimizer_, optim.lr, optim.weight_decay, optim.eps, 1.0 - optim.beta1,
                               1.0 - optim.beta2, static_cast<double>(base_.train.steps), 1.0,
                               base_.train.tokens_per_step());
    r.sde_after = sde_objects(optimizer_, r.global.lr.value(), r.global.weight_decay.value(), r.global.eps.value(),
                              r.global.beta1.complement_value(), r.global.beta2.complement_value(),
                              static_cast<double>(target_.train.steps), 1.0, target_.train.tokens_per_step());
    const double sigma0_base = r.sde_before.sigma0;
    r.sde_before.sigma0 = 1.0;
    r.sde_after.sigma0 /= sigma0_base;
  }

  const RunConfig& base_;
  const RunConfig& target_;
  RuleSource rule_;
  ResolvedSwitches sw_;
  Ratios ratios_;
  OptimizerKind optimizer_ = OptimizerKind::adamw;
  BatchDurationFactors batch_factors_;
};

}  // namespace

TransferResult transfer(const RunConfig& base, const RunConfig& target, RuleSource rule) {
  if (!base.optim) throw RuleRefusal("optim", "the base config needs an [optim] table with the tuned hyperparameters");
  if (target.optim && target.optim->name != base.optim->name)
    throw RuleRefusal("optim.name", "the target's optimizer must match the base's (transfer across optimizers is not defined)");
  return Engine(base, target, rule).run();
}

}  // namespace muelab::theory
