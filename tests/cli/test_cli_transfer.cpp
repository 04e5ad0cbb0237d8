// `muelab transfer` through the real command line: the worked example via JSON, every malformed
// fixture failing cleanly (exit 2, one line on stderr naming file and field, nothing on stdout).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

struct CliResult {
  int status = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

CliResult run_muelab(const std::string& arguments) {
  const fs::path dir = fs::temp_directory_path() / ("muelab-cli-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string command = std::string("'") + MUELAB_BINARY_DIR + "/cli/muelab' " + arguments + " >'" +
                              (dir / "out").string() + "' 2>'" + (dir / "err").string() + "'";
  const int raw = std::system(command.c_str());
  CliResult r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = slurp(dir / "out");
  r.err = slurp(dir / "err");
  return r;
}

std::string source(const std::string& relative) { return std::string("'") + MUELAB_SOURCE_DIR + "/" + relative + "'"; }

std::size_t line_count(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("CLI: worked example of docs/theory.md §5.3 (LM and diffusion) to 4 significant digits", "[cli][worked-example]") {
  const std::string target = source("experiments/configs/worked-example/target-moe.toml");
  SECTION("LM") {
    const auto r = run_muelab("transfer --base " + source("experiments/configs/worked-example/base-lm.toml") +
                              " --target " + target + " --rule complete-mue --format json");
    REQUIRE(r.status == 0);
    REQUIRE(r.err.empty());
    const auto j = nlohmann::json::parse(r.out);
    const auto sig4 = [](double expected) { return Approx(expected).epsilon(5e-5); };
    CHECK(j["rule"] == "complete-mue");
    CHECK(j["ratios"]["steps"].get<double>() == sig4(4.0));
    CHECK(j["global"]["lr"].get<double>() == sig4(5e-4));
    CHECK(j["global"]["weight_decay"].get<double>() == sig4(0.05));
    CHECK(j["global"]["eps"].get<double>() == sig4(2e-8));
    CHECK(1.0 - j["global"]["beta1"].get<double>() == sig4(0.025));
    CHECK(1.0 - j["global"]["beta2"].get<double>() == sig4(0.0125));
    CHECK(j["global"]["init_std"].get<double>() == sig4(0.01));
    CHECK(j["moe"]["active_width"].get<double>() == 9216.0);
    CHECK(j["moe"]["output_multiplier"].get<double>() == sig4(1.0 / 9.0));
    CHECK(j["moe"]["route_scale_routed"].get<double>() == 8.0);
    CHECK(j["moe"]["route_scale_shared"].get<double>() == 1.0);
    const auto& g = j["groups"];
    for (const char* down : {"expert.down", "shared.down"}) {
      CHECK(g[down]["init_std"].get<double>() == sig4(0.010607));
      CHECK(g[down]["lr"].get<double>() == sig4(6.25e-5));
    }
    for (const char* hidden : {"attn.qkv", "attn.out", "router", "expert.up", "shared.up"}) {
      CHECK(g[hidden]["init_std"].get<double>() == sig4(0.0035355));
      CHECK(g[hidden]["lr"].get<double>() == sig4(6.25e-5));
    }
    CHECK(g["head"]["multiplier"].get<double>() == sig4(0.125));
    CHECK(g["embedding"]["sigma0_ratio"].get<double>() == sig4(0.5));
    CHECK(g["expert.up"]["sigma0_ratio"].get<double>() == sig4(2.0));
    CHECK(g["expert.down"]["sigma0_ratio"].get<double>() == sig4(2.0));
    CHECK(g["shared.down"]["sigma0_ratio"].get<double>() == sig4(0.5));
    for (const char* object : {"horizon", "wd_rate", "c1", "c2", "eps0", "ema_fraction"})
      CHECK(j["sde"]["after"][object].get<double>() == Approx(j["sde"]["before"][object].get<double>()).epsilon(1e-12));
    CHECK_FALSE(g.contains("ffn.up"));  // absent groups are not reported
  }
  SECTION("diffusion") {
    const auto r = run_muelab("transfer --base " + source("experiments/configs/worked-example/base-diffusion.toml") +
                              " --target " + target + " --format json");
    REQUIRE(r.status == 0);
    const auto j = nlohmann::json::parse(r.out);
    CHECK(j["global"]["lr"].get<double>() == Approx(2.26e-3).epsilon(5e-5));
    CHECK(j["global"]["weight_decay"].get<double>() == Approx(0.01).epsilon(5e-5));
    CHECK(j["groups"]["expert.down"]["init_std"].get<double>() == Approx(0.02121).epsilon(5e-4));
  }
}

TEST_CASE("CLI: --compare, csv, --explain and --help", "[cli]") {
  const std::string args = "transfer --base " + source("experiments/configs/worked-example/base-lm.toml") + " --target " +
                           source("experiments/configs/worked-example/target-moe.toml");
  const auto all = run_muelab(args + " --compare --format json");
  REQUIRE(all.status == 0);
  const auto j = nlohmann::json::parse(all.out);
  REQUIRE(j["rules"].size() == 6);
  const auto csv = run_muelab(args + " --rule all --format csv");
  REQUIRE(csv.status == 0);
  CHECK(csv.out.rfind("rule,group,init_std,multiplier,lr,weight_decay,eps,beta1,beta2,sigma0_ratio,tokens_per_step\n", 0) == 0);
  CHECK(line_count(csv.out) == 1 + 6 * 10);
  const auto explain = run_muelab(args + " --explain");
  REQUIRE(explain.status == 0);
  for (const char* section : {"docs/theory.md §2", "docs/theory.md §3", "docs/theory.md §4", "docs/theory.md §5.1", "[Bridge I]", "[batch/duration]"})
    CHECK(explain.out.find(section) != std::string::npos);
  const auto help = run_muelab("transfer --help");
  REQUIRE(help.status == 0);
  for (const char* option : {"--base", "--target", "--rule", "--set", "--format", "--explain", "--compare", "head_rule",
                             "wd_width_scaling", "eps_width_scaling", "batch_duration", "beta_rule", "route_scale",
                             "depth_alpha", "jiang_expert_down_init", "mupmoe_router_form"})
    CHECK(help.out.find(option) != std::string::npos);
  const auto set = run_muelab(args + " --set rule.head_rule=cmue-literal --set base.optim.lr=2e-3 --format json");
  REQUIRE(set.status == 0);
  CHECK(nlohmann::json::parse(set.out)["groups"]["head"]["lr"].get<double>() == Approx(2e-3 * 0.5 / 8.0));
}

TEST_CASE("CLI: the README's rule-switch table is what `muelab switches --format markdown` prints", "[cli][switches]") {
  const auto table = run_muelab("switches --format markdown");
  REQUIRE(table.status == 0);
  REQUIRE(line_count(table.out) == 2 + 12);
  const std::string readme = slurp(fs::path(MUELAB_SOURCE_DIR) / "README.md");
  const auto start = readme.find("| switch | values | default | read by | docs/theory.md |");
  REQUIRE(start != std::string::npos);
  const auto end = readme.find("\n\n", start);
  REQUIRE(end != std::string::npos);
  // Regenerate with: muelab switches --format markdown (theory/src/rule_switches.cpp is the source).
  CHECK(readme.substr(start, end + 1 - start) == table.out);
  const auto text = run_muelab("switches");
  REQUIRE(text.status == 0);
  CHECK(text.out == run_muelab("transfer --help").out.substr(run_muelab("transfer --help").out.find("Rule switches")).substr(0, text.out.size()));
  CHECK(run_muelab("switches --format html").status != 0);
}

TEST_CASE("CLI: bad command-line input fails with exit 2 and one line", "[cli][bad-input]") {
  const std::string args = "transfer --base " + source("experiments/configs/worked-example/base-lm.toml") + " --target " +
                           source("experiments/configs/worked-example/target-moe.toml");
  for (const std::string extra : {" --rule mup-for-all", " --format yaml", " --set model.d_model", " --unknown-flag"}) {
    INFO(extra);
    const auto r = run_muelab(args + extra);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK(line_count(r.err) == 1);
  }
  const auto missing = run_muelab("transfer --base /nonexistent/base.toml --target " +
                                  source("experiments/configs/worked-example/target-moe.toml"));
  CHECK(missing.status == 2);
  CHECK(missing.err.find("/nonexistent/base.toml") != std::string::npos);
}

TEST_CASE("CLI: every malformed fixture fails cleanly, naming file and field", "[cli][bad-input]") {
  const fs::path fixtures = fs::path(MUELAB_SOURCE_DIR) / "tests/fixtures/bad-configs";
  const std::string good_base = source("tests/fixtures/good-configs/base-dense.toml");
  const std::string good_target = source("tests/fixtures/good-configs/target-moe.toml");
  REQUIRE(run_muelab("transfer --base " + good_base + " --target " + good_target).status == 0);
  std::size_t count = 0;
  for (const auto& entry : fs::directory_iterator(fixtures)) {
    const auto path = entry.path();
    const std::string name = path.filename().string();
    std::ifstream in(path);
    std::string first_line;
    std::getline(in, first_line);
    REQUIRE(first_line.rfind("# expect-field: ", 0) == 0);
    const std::string field = first_line.substr(16);
    const bool is_base = name.rfind("base-", 0) == 0;
    const std::string quoted = "'" + path.string() + "'";
    const auto r = run_muelab("transfer --base " + (is_base ? quoted : good_base) + " --target " + (is_base ? good_target : quoted));
    INFO(name << "\nstderr: " << r.err << "stdout: " << r.out);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK(line_count(r.err) == 1);
    CHECK(r.err.find(path.string()) != std::string::npos);
    CHECK(r.err.find("field " + field) != std::string::npos);
    ++count;
  }
  CHECK(count >= 25);
}
