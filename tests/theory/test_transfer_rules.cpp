// The rule engine against hand calculations (docs/theory.md §2–§6) and the base-identity claim.
#include "test_helpers.hpp"

#include "muelab/theory/abc_symmetry.hpp"
#include "muelab/theory/bridge.hpp"
#include "muelab/theory/transfer.hpp"

#include <catch2/catch.hpp>

using namespace muelab::theory;
using muelab::test::dense_config;
using muelab::test::moe_config;

namespace {

const GroupResult& group(const TransferResult& r, ParameterGroup g) {
  const auto* found = r.find(g);
  REQUIRE(found != nullptr);
  return *found;
}

std::vector<const Quantity*> quantities(const GroupResult& g) {
  return {&g.init_std, &g.multiplier, &g.lr, &g.weight_decay, &g.eps, &g.beta1, &g.beta2};
}

}  // namespace

TEST_CASE("base identity: every factor of every rule source is exactly 1 at the base shape", "[theory][base-identity]") {
  auto swiglu_moe = moe_config(128, 16, 4, 64, 1, 128, 2);
  swiglu_moe.model.activation = Activation::swiglu;
  swiglu_moe.model.bias = true;
  auto sgd_dense = dense_config(96, 384);
  sgd_dense.optim->name = OptimizerKind::sgd;
  auto power_beta = moe_config(256, 8, 8, 32);
  power_beta.rule.beta_rule = "power";
  const std::vector<std::pair<std::string, RunConfig>> bases = {
      {"dense unit expansion", dense_config(128, 128)},
      {"dense H = 4d", dense_config(256, 1024, 12)},
      {"MoE + shared + groups + swiglu + bias", swiglu_moe},
      {"SGD dense", sgd_dense},
      {"dense MoE, power beta rule", power_beta}};
  for (const auto& [name, base] : bases) {
    for (const auto rule : all_rule_sources()) {
      if (base.optim->name == OptimizerKind::sgd && (rule == RuleSource::jiang || rule == RuleSource::mup_moe)) continue;
      INFO("base: " << name << ", rule: " << rule_name(rule));
      const auto r = transfer(base, base, rule);
      for (const auto& g : r.groups) {
        INFO("group " << group_name(g.group));
        for (const auto* q : quantities(g)) REQUIRE(q->factor_product() == 1.0);
        REQUIRE(g.sigma0_ratio == 1.0);
        REQUIRE(g.init_std.value() == base.optim->init_std);
        REQUIRE(g.lr.value() == base.optim->lr);
        REQUIRE(g.multiplier.value() == 1.0);
        REQUIRE(g.eps.value() == base.optim->eps);
        REQUIRE(g.beta1.value() == Approx(base.optim->beta1).epsilon(1e-15));
      }
      REQUIRE(r.ratios.width == 1.0);
      REQUIRE(r.ratios.q == 1.0);
      REQUIRE(r.architecture.residual_multiplier.value() == 1.0);
      REQUIRE(r.global.lr.factor_product() == 1.0);
      REQUIRE(r.global.weight_decay.factor_product() == 1.0);
      if (r.moe) REQUIRE(r.moe->output_multiplier == 1.0);
      REQUIRE(r.sde_after.horizon == r.sde_before.horizon);
      REQUIRE(r.sde_after.sigma0 == 1.0);
    }
  }
}

TEST_CASE("worked example of docs/theory.md §5.3 through the library", "[theory][worked-example]") {
  RunConfig base = dense_config(128, 128, 32);
  base.train = {256, 1024, 25000};
  base.optim = OptimConfig{OptimizerKind::adamw, 1e-3, 0.1, 1e-8, 0.9, 0.95, 0.01};
  RunConfig target = moe_config(1024, 128, 8, 1024, 1, 1024, 1, 32);
  target.train = {256, 1024, 100000};
  const auto r = transfer(base, target, RuleSource::complete_mue);
  CHECK(r.ratios.q == Approx(0.25));
  CHECK(r.global.lr.value() == Approx(5e-4));
  CHECK(r.global.weight_decay.value() == Approx(0.05));
  CHECK(r.global.eps.value() == Approx(2e-8));
  CHECK(1.0 - r.global.beta1.value() == Approx(0.025));
  REQUIRE(r.moe);
  CHECK(r.moe->active_width == 9216.0);
  CHECK(r.moe->output_multiplier == Approx(1.0 / 9.0));
  CHECK(r.moe->route_scale_routed == 8.0);
  CHECK(r.moe->route_scale_shared == 1.0);
  CHECK(group(r, ParameterGroup::expert_down).init_std.value() == Approx(0.01 * 3.0 / std::sqrt(8.0)));
  CHECK(group(r, ParameterGroup::shared_down).init_std.value() == Approx(0.010607).epsilon(5e-5));
  CHECK(group(r, ParameterGroup::attn_qkv).init_std.value() == Approx(0.0035355).epsilon(5e-5));
  CHECK(group(r, ParameterGroup::expert_up).lr.value() == Approx(6.25e-5));
  CHECK(group(r, ParameterGroup::expert_down).lr.value() == Approx(6.25e-5));
  CHECK(group(r, ParameterGroup::head).multiplier.value() == Approx(0.125));
  CHECK(group(r, ParameterGroup::embedding).sigma0_ratio == Approx(0.5));
  CHECK(group(r, ParameterGroup::router).sigma0_ratio == Approx(0.5));
  CHECK(group(r, ParameterGroup::expert_up).sigma0_ratio == Approx(2.0));
  CHECK(group(r, ParameterGroup::expert_down).sigma0_ratio == Approx(2.0));
  CHECK(group(r, ParameterGroup::shared_up).sigma0_ratio == Approx(0.5));
  CHECK(group(r, ParameterGroup::norm).weight_decay.value() == 0.0);
}

TEST_CASE("Bridge I table: hand-computed dense, MoE, shared+routed and grouped targets", "[theory][bridge1]") {
  RunConfig base = dense_config(128, 128);
  base.optim->init_std = 0.02;
  struct Case {
    const char* name;
    RunConfig target;
    double active_width, route_scale, expert_sigma0;
  };
  const std::vector<Case> cases = {
      {"dense d=256 H=1024", dense_config(256, 1024), 1024, 1, 1},
      {"MoE d=256 N=16 a=4 h=256", moe_config(256, 16, 4, 256), 1024, 4, 2},
      {"shared+routed d=256 N=16 a=2 h=256 + 1x512", moe_config(256, 16, 2, 256, 1, 512), 1024, 2, std::sqrt(8.0)},
      {"grouped d=256 N=16 a=4 h=256 g=2", moe_config(256, 16, 4, 256, 0, 0, 2), 1024, 4, 2}};
  // Hand values (ρ_d = 2, H_act/d = 4): A = 256/1024 = 0.25; down init 0.02·2^{-1/2}·√4 = 0.0282843;
  // hidden init 0.02/√2 = 0.0141421; hidden LR 1e-3/2; head multiplier 1/2.
  for (const auto& c : cases) {
    INFO(c.name);
    const auto r = transfer(base, c.target, RuleSource::complete_mue);
    const auto down = c.target.model.is_moe() ? ParameterGroup::expert_down : ParameterGroup::ffn_down;
    const auto up = c.target.model.is_moe() ? ParameterGroup::expert_up : ParameterGroup::ffn_up;
    CHECK(active_width(c.target.model) == c.active_width);
    CHECK(group(r, down).multiplier.value() == Approx(0.25));
    CHECK(group(r, down).init_std.value() == Approx(0.0282842712));
    CHECK(group(r, down).lr.value() == Approx(5e-4));
    CHECK(group(r, up).init_std.value() == Approx(0.0141421356));
    CHECK(group(r, up).lr.value() == Approx(5e-4));
    CHECK(group(r, ParameterGroup::head).multiplier.value() == Approx(0.5));
    CHECK(group(r, up).sigma0_ratio == Approx(c.expert_sigma0));
    if (c.target.model.is_moe()) {
      REQUIRE(r.moe);
      CHECK(r.moe->output_multiplier == Approx(0.25));
      CHECK(r.moe->route_scale_routed == c.route_scale);
      CHECK(r.moe->route_scale_shared == 1.0);
      CHECK(r.moe->n_groups == c.target.model.n_groups);
      CHECK(group(r, ParameterGroup::router).sigma0_ratio == 1.0);
      CHECK(group(r, ParameterGroup::router).init_std.value() == Approx(0.0141421356));
    }
    if (c.target.model.has_shared()) {
      CHECK(group(r, ParameterGroup::shared_down).multiplier.value() == Approx(0.25));
      CHECK(group(r, ParameterGroup::shared_down).init_std.value() == Approx(0.0282842712));
      CHECK(group(r, ParameterGroup::shared_up).sigma0_ratio == 1.0);
    }
  }
  SECTION("removing the route scale (the Bridge I control) sets R = 1 and nothing else") {
    RunConfig target = moe_config(256, 16, 4, 256);
    target.rule.route_scale = "none";
    const auto with = transfer(base, moe_config(256, 16, 4, 256), RuleSource::complete_mue);
    const auto without = transfer(base, target, RuleSource::complete_mue);
    CHECK(without.moe->route_scale_routed == 1.0);
    for (std::size_t i = 0; i < with.groups.size(); ++i)
      CHECK(with.groups[i].init_std.value() == without.groups[i].init_std.value());
  }
  SECTION("granularity at fixed density and a·h changes nothing under Complete-muE, but fan-in μP moves expert.down") {
    const auto coarse = moe_config(256, 16, 4, 256);
    const auto fine = moe_config(256, 64, 16, 64);  // m = 4
    const auto cm_coarse = transfer(base, coarse, RuleSource::complete_mue);
    const auto cm_fine = transfer(base, fine, RuleSource::complete_mue);
    CHECK(group(cm_fine, ParameterGroup::expert_down).init_std.value() ==
          Approx(group(cm_coarse, ParameterGroup::expert_down).init_std.value()));
    CHECK(group(cm_fine, ParameterGroup::expert_down).lr.value() ==
          Approx(group(cm_coarse, ParameterGroup::expert_down).lr.value()));
    const auto mup_coarse = transfer(base, coarse, RuleSource::mup);
    const auto mup_fine = transfer(base, fine, RuleSource::mup);
    CHECK(group(mup_fine, ParameterGroup::expert_down).init_std.value() /
              group(mup_coarse, ParameterGroup::expert_down).init_std.value() == Approx(2.0));  // (h/h')^{1/2} = √4
    CHECK(group(mup_fine, ParameterGroup::expert_down).lr.value() /
              group(mup_coarse, ParameterGroup::expert_down).lr.value() == Approx(4.0));
  }
}

TEST_CASE("Jiang vs fan-in: only the expert-down init differs, by exactly r_alpha^-1", "[theory][jiang]") {
  RunConfig base = moe_config(128, 8, 2, 64);
  for (const std::int64_t h : {32, 64, 128, 256, 512}) {
    for (const std::int64_t d : {256, 512}) {
      INFO("target d=" << d << " h=" << h);
      RunConfig mean_field = moe_config(d, 16, 4, h);
      RunConfig fan_in = mean_field;
      fan_in.rule.jiang_expert_down_init = "fan-in";
      const auto a = transfer(base, mean_field, RuleSource::jiang);
      const auto b = transfer(base, fan_in, RuleSource::jiang);
      const double r_d = static_cast<double>(d) / 128.0;
      const double r_alpha = (static_cast<double>(h) / 64.0) / r_d;
      REQUIRE(a.groups.size() == b.groups.size());
      for (std::size_t i = 0; i < a.groups.size(); ++i) {
        const auto qa = quantities(a.groups[i]);
        const auto qb = quantities(b.groups[i]);
        for (std::size_t k = 0; k < qa.size(); ++k) {
          INFO("group " << group_name(a.groups[i].group) << " quantity " << k);
          if (a.groups[i].group == ParameterGroup::expert_down && k == 0) {
            CHECK(qa[k]->value() / qb[k]->value() == Approx(1.0 / r_alpha).epsilon(1e-14));
          } else {
            CHECK(qa[k]->value() == qb[k]->value());
          }
        }
      }
    }
  }
  SECTION("hand value: d 128->256, h 64->256: r_d = 2, r_h = 4, r_alpha = 2") {
    RunConfig target = moe_config(256, 8, 2, 256);
    const auto r = transfer(base, target, RuleSource::jiang);
    CHECK(group(r, ParameterGroup::expert_down).init_std.value() == Approx(0.02 / std::sqrt(2.0) / 2.0));
    CHECK(group(r, ParameterGroup::expert_down).lr.value() == Approx(1e-3 / 4.0));   // r_h^{-1}
    CHECK(group(r, ParameterGroup::expert_down).eps.value() == Approx(1e-8 * 2.0 / 16.0));  // r_d r_h^{-2}
    CHECK(group(r, ParameterGroup::expert_up).eps.value() == Approx(1e-8 / 4.0));     // r_h^{-1}
    CHECK(group(r, ParameterGroup::router).init_std.value() == Approx(0.02 / 2.0));   // r_d^{-γ}, γ = 1
    CHECK(r.moe->route_scale_routed == Approx(0.5));                                  // (1/a) Σ g_i E_i
    CHECK(r.moe->gate_normalization == "none");
  }
}

TEST_CASE("mup-moe router: output-type (init and LR x r_d^-1), or the abc-equivalent multiplier form", "[theory][mup-moe]") {
  RunConfig base = moe_config(128, 8, 2, 64);
  RunConfig target = moe_config(512, 8, 2, 256);
  const auto init_form = transfer(base, target, RuleSource::mup_moe);
  const auto& router = group(init_form, ParameterGroup::router);
  CHECK(router.init_std.value() == Approx(0.02 / 4.0));
  CHECK(router.lr.value() == Approx(1e-3 / 4.0));
  CHECK(router.multiplier.value() == 1.0);
  target.rule.mupmoe_router_form = "multiplier";
  const auto mult_form = transfer(base, target, RuleSource::mup_moe);
  const auto& router_m = group(mult_form, ParameterGroup::router);
  CHECK(router_m.multiplier.value() == Approx(0.25));
  CHECK(router_m.init_std.value() == Approx(0.02));
  CHECK(router_m.lr.value() == Approx(1e-3));
  const auto as_form = [](const GroupResult& g) {
    return GroupParameterization{g.multiplier.value(), g.init_std.value(), g.lr.value(), g.eps.value(), g.weight_decay.value()};
  };
  const auto e1 = effective_sizes(as_form(router), OptimizerKind::adamw);
  const auto e2 = effective_sizes(as_form(router_m), OptimizerKind::adamw);
  CHECK(e1.function_init == Approx(e2.function_init).epsilon(1e-14));
  CHECK(e1.function_update == Approx(e2.function_update).epsilon(1e-14));
  CHECK(e1.decay_per_step == Approx(e2.decay_per_step).epsilon(1e-14));
  CHECK(e1.eps_relative_to_gradient == Approx(e2.eps_relative_to_gradient).epsilon(1e-14));
  // Experts are plain hidden weights (fan-in μP, down included): expert.down fan-in 64 -> 256.
  CHECK(group(init_form, ParameterGroup::expert_down).init_std.value() == Approx(0.02 / 2.0));
  CHECK(group(init_form, ParameterGroup::expert_down).lr.value() == Approx(1e-3 / 4.0));
}

TEST_CASE("CompleteP depth and SP attention, hand values", "[theory][depth]") {
  RunConfig base = dense_config(128, 512, 4);
  RunConfig target = dense_config(128, 512, 16);
  target.rule.depth_alpha = 0.5;
  const auto r = transfer(base, target, RuleSource::completep);
  CHECK(r.architecture.residual_multiplier.value() == Approx(0.5));           // 4^{-1/2}
  CHECK(group(r, ParameterGroup::attn_qkv).lr.value() == Approx(1e-3 * 0.5));  // 4^{α−1}
  CHECK(group(r, ParameterGroup::attn_qkv).eps.value() == Approx(1e-8 * 0.5)); // 4^{-α}
  CHECK(group(r, ParameterGroup::norm).lr.value() == Approx(1e-3 * 0.5));
  CHECK(group(r, ParameterGroup::norm).weight_decay.value() == 0.0);
  CHECK(group(r, ParameterGroup::embedding).lr.value() == 1e-3);
  const auto sp = transfer(base, target, RuleSource::sp);
  CHECK(sp.architecture.attention_logit_scale == Approx(1.0 / std::sqrt(32.0)));
  CHECK(r.architecture.attention_logit_scale == Approx(1.0 / 32.0));
}

TEST_CASE("SGD: μP Table-3 LR factors and the linear batch/duration rule", "[theory][sgd]") {
  RunConfig base = dense_config(128, 512);
  base.optim->name = OptimizerKind::sgd;
  RunConfig target = dense_config(512, 2048);
  target.optim.reset();
  target.train.steps = 4000;  // q = 1/4
  const auto r = transfer(base, target, RuleSource::mup);
  CHECK(group(r, ParameterGroup::embedding).lr.value() == Approx(4e-3));  // × fan_out ratio
  CHECK(group(r, ParameterGroup::attn_qkv).lr.value() == Approx(1e-3));   // hidden × 1
  CHECK(group(r, ParameterGroup::head).lr.value() == Approx(4e-3));       // multiplier form: × fan_in
  CHECK(group(r, ParameterGroup::head).multiplier.value() == Approx(0.25));
  const auto c = transfer(base, target, RuleSource::complete_mue);
  CHECK(c.global.lr.value() == Approx(0.25e-3));  // η × q for SGD
  CHECK(c.global.weight_decay.value() == Approx(0.1));
  CHECK(1.0 - c.global.beta1.value() == Approx(0.025));
  CHECK_THROWS_AS(transfer(base, target, RuleSource::jiang), RuleRefusal);
}
