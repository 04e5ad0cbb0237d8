// `muelab sweep` with a stand-in trainer (tests/fixtures/sweeps/fake_trainer.sh): grid expansion,
// stable ids, atomic rows, kill -9 and resume, shards, diverged runs, malformed sweep files.
#include "muelab/experiments/sweep.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using namespace muelab::experiments;

namespace {

const fs::path kFixtures = fs::path(MUELAB_SOURCE_DIR) / "tests/fixtures";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path fresh_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("muelab-sweep-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

int run_muelab(const std::string& args, const fs::path& cwd, std::string* err = nullptr) {
  const auto err_file = fs::temp_directory_path() / ("muelab-sweep-err-" + std::to_string(::getpid()));
  const std::string command = "cd '" + cwd.string() + "' && '" + MUELAB_BINARY_DIR + "/cli/muelab' " + args +
                              " >/dev/null 2>'" + err_file.string() + "'";
  const int raw = std::system(command.c_str());
  if (err) *err = slurp(err_file);
  fs::remove(err_file);
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

/// Data rows of results.csv, sorted, without the header.
std::vector<std::string> rows(const fs::path& dir) {
  std::istringstream lines(slurp(dir / "results.csv"));
  std::vector<std::string> out;
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) out.push_back(line);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("sweep expansion: grid x points x seeds, stable unique ids", "[sweep]") {
  const auto spec = parse_sweep_spec(
      "[sweep]\nconfig = \"run.toml\"\nseeds = [0, 1]\nset = [\"train.steps=10\"]\n"
      "[grid]\n\"transfer.lr\" = [1e-3, 2e-3, 4e-3]\n\"model.d_model\" = [64, 128]\n"
      "[[points]]\n\"model.n_layers\" = 2\n[[points]]\n\"model.n_layers\" = 4\n",
      kFixtures / "sweeps/inline.toml");
  const auto runs = expand_sweep(spec);
  REQUIRE(runs.size() == 3 * 2 * 2 * 2);
  std::set<std::string> ids;
  for (const auto& r : runs) ids.insert(r.id);
  CHECK(ids.size() == runs.size());
  CHECK(runs.front().overrides.front() == "train.steps=10");
  // grid keys come in TOML table order (sorted by key), then point keys, then the seed key
  CHECK(swept_keys(spec) == std::vector<std::string>{"model.d_model", "transfer.lr", "model.n_layers", "trainer.seed"});
  const auto again = expand_sweep(spec);
  for (std::size_t i = 0; i < runs.size(); ++i) CHECK(again[i].id == runs[i].id);
  CHECK(fnv1a_hex("") == "cbf29ce484222325");  // FNV-1a 64 offset basis
  CHECK(fnv1a_hex("a") == "af63dc4c8601ec8c");
}

TEST_CASE("sweep: runs, records divergence and goes on, resumes without duplicates", "[sweep]") {
  const auto out = fresh_dir("basic");
  const auto sweeps = kFixtures / "sweeps";
  REQUIRE(run_muelab("sweep --config lr-seeds.toml --out '" + out.string() + "' --jobs 2", sweeps) == 0);
  const auto first = rows(out);
  REQUIRE(first.size() == 15);
  CHECK(std::count_if(first.begin(), first.end(), [](const std::string& r) { return r.find(",diverged,3,") != std::string::npos; }) == 3);
  CHECK(std::count_if(first.begin(), first.end(), [](const std::string& r) { return r.find(",ok,0,") != std::string::npos; }) == 12);
  REQUIRE(run_muelab("sweep --config lr-seeds.toml --out '" + out.string() + "'", sweeps) == 0);
  CHECK(rows(out) == first);  // nothing ran twice, nothing duplicated
  fs::remove_all(out);
}

TEST_CASE("sweep: kill -9 in the middle, then the same command, equals an uninterrupted sweep", "[sweep]") {
  const auto sweeps = kFixtures / "sweeps";
  const auto reference = fresh_dir("reference");
  REQUIRE(run_muelab("sweep --config lr-seeds-slow.toml --out '" + reference.string() + "' --jobs 2", sweeps) == 0);
  const auto interrupted = fresh_dir("interrupted");
  // Slow runs (0.2 s each), started in their own process group so that kill -9 takes all of it.
  const std::string start = "cd '" + sweeps.string() + "' && setsid '" + MUELAB_BINARY_DIR +
                            "/cli/muelab' sweep --config lr-seeds-slow.toml --out '" + interrupted.string() +
                            "' --jobs 2 >/dev/null 2>&1 & echo $! > '" + interrupted.string() + ".pid'";
  fs::create_directories(interrupted.parent_path());
  REQUIRE(std::system(start.c_str()) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // Wait until some but not all rows are there, then kill the whole group.
  for (int i = 0; i < 200 && (!fs::exists(interrupted / "results.csv") || rows(interrupted).size() < 4); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::string pid = slurp(interrupted.string() + ".pid");
  REQUIRE(std::system(("kill -9 -" + pid.substr(0, pid.find('\n')) + " 2>/dev/null; sleep 0.2").c_str()) == 0);
  const auto partial = rows(interrupted).size();
  INFO("rows after kill -9: " << partial);
  CHECK(partial < 15);
  REQUIRE(run_muelab("sweep --config lr-seeds-slow.toml --out '" + interrupted.string() + "' --jobs 2", sweeps) == 0);
  CHECK(rows(interrupted) == rows(reference));
  fs::remove_all(reference);
  fs::remove_all(interrupted);
  fs::remove(interrupted.string() + ".pid");
}

TEST_CASE("sweep: shards 0/2 and 1/2 together equal the whole sweep, and the Slurm script", "[sweep]") {
  const auto sweeps = kFixtures / "sweeps";
  const auto whole = fresh_dir("whole");
  const auto sharded = fresh_dir("sharded");
  REQUIRE(run_muelab("sweep --config lr-seeds.toml --out '" + whole.string() + "'", sweeps) == 0);
  REQUIRE(run_muelab("sweep --config lr-seeds.toml --out '" + sharded.string() + "' --shard 0/2", sweeps) == 0);
  CHECK(rows(sharded).size() == 8);
  REQUIRE(run_muelab("sweep --config lr-seeds.toml --out '" + sharded.string() + "' --shard 1/2", sweeps) == 0);
  CHECK(rows(sharded) == rows(whole));
  const auto script = whole / "sweep.slurm";
  REQUIRE(run_muelab("sweep --config lr-seeds.toml --out '" + whole.string() + "' --emit-slurm '" + script.string() +
                     "' --array 3",
                 sweeps) == 0);
  const auto text = slurp(script);
  CHECK(text.find("#SBATCH --array=0-2") != std::string::npos);
  CHECK(text.find("--shard \"${SLURM_ARRAY_TASK_ID}/3\"") != std::string::npos);
  fs::remove_all(whole);
  fs::remove_all(sharded);
}

TEST_CASE("sweep: a torn last row (writer killed mid-row) is dropped on load", "[sweep]") {
  const auto dir = fresh_dir("torn");
  ResultsStore store(dir, {"transfer.lr"});
  CHECK(store.load_finished().empty());
  SweepRun run;
  run.id = "0123456789abcdef";
  run.values = {{"transfer.lr", "0.001"}};
  CHECK(store.append(run, "ok", 0, {{"final_train_loss", "1.5"}}));
  CHECK_FALSE(store.append(run, "ok", 0, {}));  // duplicate id
  { std::ofstream(dir / "results.csv", std::ios::app) << "fedcba9876543210,ok,0,0.0"; }
  const auto finished = store.load_finished();
  CHECK(finished.size() == 1);
  CHECK(finished.count("0123456789abcdef") == 1);
  CHECK(slurp(dir / "results.csv").back() == '\n');
  fs::remove_all(dir);
}

TEST_CASE("sweep: every malformed sweep file fails cleanly and writes nothing", "[sweep][bad-input]") {
  std::size_t count = 0;
  for (const auto& entry : fs::directory_iterator(kFixtures / "bad-sweeps")) {
    std::ifstream in(entry.path());
    std::string first;
    std::getline(in, first);
    REQUIRE(first.rfind("# expect-field: ", 0) == 0);
    const auto out = fresh_dir("bad");
    std::string err;
    const int status = run_muelab("sweep --config '" + entry.path().string() + "' --out '" + out.string() + "'",
                              kFixtures / "bad-sweeps", &err);
    INFO(entry.path().filename().string() << ": " << err);
    CHECK(status == 2);
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
    CHECK(err.find("field " + first.substr(16)) != std::string::npos);
    CHECK_FALSE(fs::exists(out));
    ++count;
  }
  CHECK(count >= 15);
}

TEST_CASE("a bad MUELAB_GEMM fails before any command writes anything", "[sweep][bad-input]") {
  // The GEMM engine is read at the first matrix product, after a run has started its outputs: the CLI
  // checks the variable first (cli/main.cpp).
  const auto out = fresh_dir("bad-gemm");
  const auto err_file = fs::temp_directory_path() / ("muelab-gemm-err-" + std::to_string(::getpid()));
  const std::string command = "MUELAB_GEMM=mkl '" + std::string(MUELAB_BINARY_DIR) + "/cli/muelab' train --config '" +
                              (fs::path(MUELAB_SOURCE_DIR) / "experiments/configs/train/quick.toml").string() +
                              "' --out '" + out.string() + "' --set train.steps=2 >/dev/null 2>'" + err_file.string() +
                              "'";
  const int raw = std::system(command.c_str());
  const std::string err = slurp(err_file);
  fs::remove(err_file);
  INFO(err);
  REQUIRE(WIFEXITED(raw));
  CHECK(WEXITSTATUS(raw) == 2);
  CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  CHECK(err.find("MUELAB_GEMM") != std::string::npos);
  CHECK(err.find("accepted: auto, openblas, eigen-avx512, onednn") != std::string::npos);
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("train --device: the CUDA module is opened only on request, and no device is a clean error",
          "[cli][device]") {
  const std::string quick = "'" + (fs::path(MUELAB_SOURCE_DIR) / "experiments/configs/train/quick.toml").string() + "'";
  const std::string tiny = " --set train.steps=2 --set trainer.eval_interval=2 --set trainer.eval_batches=1";
  // CPU runs must not load cuBLAS (about 0.3 s of every invocation; cli/cuda_backend/cuda_backend.hpp).
  const std::string ldd = "ldd '" + std::string(MUELAB_BINARY_DIR) + "/cli/muelab' | grep -q -e cublas -e cudart";
  CHECK(std::system(ldd.c_str()) != 0);

  const auto auto_out = fresh_dir("device-auto");
  std::string err;
  REQUIRE(run_muelab("train --config " + quick + tiny + " --device auto --out '" + auto_out.string() + "'",
                     fs::temp_directory_path(), &err) == 0);
  INFO(err);
#if defined(MUELAB_TEST_CUDA_MODULE)
  CHECK(err.find("could not be loaded") == std::string::npos);  // the module is built and opens
#else
  CHECK(err.find("built without CUDA") != std::string::npos);
#endif
  CHECK(fs::exists(auto_out / "summary.json"));
  fs::remove_all(auto_out);
  if (err.find("training on the CPU") == std::string::npos) return;  // a usable GPU: nothing more to check

  const auto cuda_out = fresh_dir("device-cuda");
  CHECK(run_muelab("train --config " + quick + tiny + " --device cuda --out '" + cuda_out.string() + "'",
                   fs::temp_directory_path(), &err) == 2);
  CHECK(std::count(err.begin(), err.end(), '\n') == 2);  // the data source's line, then the error
  CHECK(err.find("error: --device cuda: ") != std::string::npos);
  CHECK(err.find("(accepted: cpu, auto)") != std::string::npos);
  CHECK_FALSE(fs::exists(cuda_out));
}

TEST_CASE("sweep: two MPI ranks on loopback give the same results as one process", "[sweep][mpi]") {
  if (!MpiSession::compiled_in() || std::system("command -v mpirun >/dev/null 2>&1") != 0) {
    WARN("SKIPPED: muelab was built without MPI or mpirun is missing (install libopenmpi-dev openmpi-bin)");
    return;
  }
  const auto sweeps = kFixtures / "sweeps";
  const auto single = fresh_dir("single");
  const auto ranks = fresh_dir("ranks");
  REQUIRE(run_muelab("sweep --config lr-seeds.toml --out '" + single.string() + "'", sweeps) == 0);
  const std::string mpirun = "cd '" + sweeps.string() + "' && OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo " +
                             "OMPI_MCA_oob_tcp_if_include=lo mpirun --allow-run-as-root --oversubscribe -n 2 '" +
                             MUELAB_BINARY_DIR + "/cli/muelab' sweep --config lr-seeds.toml --out '" + ranks.string() +
                             "' >'" + ranks.string() + ".log' 2>&1";
  const int status = std::system(mpirun.c_str());
  INFO("mpirun output:\n" << slurp(ranks.string() + ".log"));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(slurp(ranks.string() + ".log").find("over 2 MPI ranks") != std::string::npos);
  CHECK(rows(ranks) == rows(single));
  fs::remove_all(single);
  fs::remove_all(ranks);
  fs::remove(ranks.string() + ".log");
}

TEST_CASE("figures --resume keeps what this revision finished and runs the rest", "[cli][figures]") {
  const auto out = fresh_dir("figures-resume");
  std::string err;
  REQUIRE(run_muelab("figures --profile smoke --only svag-rate --out '" + out.string() + "'", out.parent_path(),
                     &err) == 0);
  const auto run_json = out / "smoke" / "svag-rate" / "run.json";
  const auto first = slurp(run_json);
  REQUIRE(first.find("wall_seconds") != std::string::npos);
  // sde-stepper-order was never run there: --resume runs it; svag-rate is kept only under a clean
  // revision (a -dirty build's results never count as finished, experiments/registry.hpp finished_run).
  REQUIRE(run_muelab("figures --profile smoke --only svag-rate sde-stepper-order --resume --out '" + out.string() + "'",
                     out.parent_path(), &err) == 0);
  INFO(err);
  CHECK(fs::is_regular_file(out / "smoke" / "sde-stepper-order" / "verdicts.json"));
  CHECK(err.find("sde-stepper-order (smoke): finished by this revision") == std::string::npos);
  const bool dirty = first.find("-dirty\"") != std::string::npos;
  CHECK((err.find("svag-rate (smoke): finished by this revision") != std::string::npos) == !dirty);
  if (!dirty) CHECK(slurp(run_json) == first);  // kept: not rewritten
  // another seed is another run: nothing is kept
  REQUIRE(run_muelab("figures --profile smoke --only svag-rate --resume --seed 8 --out '" + out.string() + "'",
                     out.parent_path(), &err) == 0);
  CHECK(err.find("kept (--resume)") == std::string::npos);
  fs::remove_all(out);
}

TEST_CASE("figures draws each experiment's figure while the next one runs, and links them all", "[cli][figures]") {
  const auto out = fresh_dir("figures-async");
  std::string err;
  REQUIRE(run_muelab("figures --profile smoke --only svag-rate sde-stepper-order --out '" + out.string() + "'",
                     out.parent_path(), &err) == 0);
  INFO(err);
  CHECK(err.find("warning") == std::string::npos);
  const auto report = slurp(out / "smoke" / "REPORT.md");
  for (const std::string figure : {"svag-rate--sde_svag_rate", "sde-stepper-order--sde_stepper_order"}) {
    CHECK(fs::file_size(out / "figures" / (figure + ".png")) > 1000);  // the last one too: waited for
    CHECK(fs::is_regular_file(out / "figures" / (figure + ".pdf")));
    CHECK(report.find("figures/" + figure + ".png") != std::string::npos);
  }
  fs::remove_all(out);
}

namespace {

/// results.csv rows without the timing columns (wall_time_s, tokens_per_s: the last two), sorted.
std::vector<std::string> rows_without_timing(const fs::path& dir) {
  std::vector<std::string> out;
  for (auto row : rows(dir)) {
    for (int k = 0; k < 2; ++k) row = row.substr(0, row.rfind(','));
    out.push_back(row);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("population groups: equal keys only, at most max_size, a multiple of the jobs, seeds together",
          "[sweep][population]") {
  const std::vector<std::string> keys = {"a", "a", "a", "a", "a", "a", "a", "", "b", "a"};
  const std::vector<std::string> seeds = {"1", "2", "1", "2", "1", "2", "1", "1", "1", "2"};
  const auto groups = population_groups(keys, seeds, 2, 3);
  std::vector<std::size_t> seen;
  std::size_t in_a = 0;
  for (const auto& g : groups) {
    REQUIRE(!g.empty());
    CHECK(g.size() <= 3);
    for (const auto i : g) {
      CHECK(keys[i] == keys[g.front()]);  // one key per group
      seen.push_back(i);
    }
    if (keys[g.front()] == "a") ++in_a;
    if (keys[g.front()].empty()) CHECK(g.size() == 1);  // an empty key runs alone
  }
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});  // every run exactly once
  CHECK(in_a == 4);  // 8 runs of key a, at most 3 each: 3 groups, raised to a multiple of 2 jobs
  // members in seed order: the four seed-1 runs of key a (0, 2, 4, 6) fill the first groups
  std::vector<std::size_t> a_order;
  for (const auto& g : groups)
    if (keys[g.front()] == "a") a_order.insert(a_order.end(), g.begin(), g.end());
  CHECK(a_order == std::vector<std::size_t>{0, 2, 4, 6, 1, 3, 5, 9});
  CHECK(population_groups(keys, seeds, 2, 1).size() == keys.size());   // 1: one process per run
  CHECK(population_groups({"a", "a"}, {"1", "1"}, 4, 8).size() == 2);  // never more groups than runs
}

TEST_CASE("sweep: populations give the rows of one process per run, resume and MPI included", "[sweep][population]") {
  const auto sweeps = kFixtures / "sweeps";
  const auto single = fresh_dir("pop-single");
  const auto grouped = fresh_dir("pop-grouped");
  REQUIRE(run_muelab("sweep --config population.toml --out '" + single.string() + "' --jobs 2 --population 1",
                     sweeps) == 0);
  // Shard 0/2 first, then the whole sweep: the second command resumes with the rest, in populations.
  REQUIRE(run_muelab("sweep --config population.toml --out '" + grouped.string() + "' --jobs 2 --shard 0/2", sweeps) ==
          0);
  CHECK(rows(grouped).size() == 6);
  REQUIRE(run_muelab("sweep --config population.toml --out '" + grouped.string() + "' --jobs 2 --population 4",
                     sweeps) == 0);
  const auto reference = rows_without_timing(single);
  REQUIRE(reference.size() == 12);
  CHECK(std::count_if(reference.begin(), reference.end(),
                      [](const std::string& r) { return r.find(",diverged,3,") != std::string::npos; }) == 3);
  CHECK(rows_without_timing(grouped) == reference);  // the same losses, bit for bit, and statuses
  std::size_t logs = 0;
  for (const auto& entry : fs::directory_iterator(grouped / "logs")) {
    CHECK(entry.path().filename().string().find("population") == std::string::npos);  // only per-run logs remain
    ++logs;
  }
  CHECK(logs == 12);
  if (MpiSession::compiled_in() && std::system("command -v mpirun >/dev/null 2>&1") == 0) {
    const auto ranks = fresh_dir("pop-ranks");
    const std::string mpirun = "cd '" + sweeps.string() + "' && OMPI_MCA_btl=self,tcp OMPI_MCA_btl_tcp_if_include=lo " +
                               "OMPI_MCA_oob_tcp_if_include=lo mpirun --allow-run-as-root --oversubscribe -n 2 '" +
                               MUELAB_BINARY_DIR + "/cli/muelab' sweep --config population.toml --out '" +
                               ranks.string() + "' --population 3 >/dev/null 2>&1";
    const int status = std::system(mpirun.c_str());
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(rows_without_timing(ranks) == reference);
    fs::remove_all(ranks);
  } else {
    WARN("SKIPPED the MPI part: muelab was built without MPI or mpirun is missing");
  }
  fs::remove_all(single);
  fs::remove_all(grouped);
}

TEST_CASE("train --population: a malformed file or mismatched members fail cleanly and write nothing",
          "[cli][population][bad-input]") {
  const auto dir = fresh_dir("pop-bad");
  fs::create_directories(dir);
  const auto config = (kFixtures / "sweeps/population-run.toml").string();
  const auto out = dir / "m";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "is not JSON"},
      {"{\"members\": []}", "field members"},
      {"{\"members\": [{\"set\": []}]}", "members[0].out"},
      {"{\"members\": [{\"set\": [1], \"out\": \"" + out.string() + "\"}]}", "members[0].set"},
      {"{\"members\": [{\"out\": \"" + out.string() + "\"}, {\"set\": [\"trainer.threads=2\"], \"out\": \"" +
           (dir / "n").string() + "\"}]}",
       "trainer.threads"},
      {"{\"members\": [{\"set\": [\"model.d_modl=8\"], \"out\": \"" + out.string() + "\"}]}", "model.d_modl"},
      {"{\"members\": [{\"out\": \"" + out.string() + "\"}, {\"out\": \"" + out.string() + "\"}]}",
       "share the output folder"},
  };
  for (const auto& [text, field] : cases) {
    std::ofstream(dir / "pop.json") << text;
    std::string err;
    const int status =
        run_muelab("train --config '" + config + "' --population '" + (dir / "pop.json").string() + "'", dir, &err);
    INFO(text << " -> " << err);
    CHECK(status == 2);
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
    CHECK(err.find(field) != std::string::npos);
    CHECK_FALSE(fs::exists(out));
    CHECK_FALSE(fs::exists(dir / "n"));
  }
  std::string err;  // a file that does not exist: one line naming it
  CHECK(run_muelab("train --config '" + config + "' --population '" + (dir / "absent.json").string() + "'", dir,
                   &err) == 2);
  CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  CHECK(err.find("absent.json") != std::string::npos);
  fs::remove_all(dir);
}
