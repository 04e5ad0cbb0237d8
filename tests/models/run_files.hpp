// Files of the trainer tests: a run's output read back as text, and a fresh scratch folder in the
// build tree (test_trainer.cpp, test_population.cpp).
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace muelab::models::cpu::testing {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// BUILD/tests/models/scratch/NAME, removed if it exists (the run creates it).
inline std::filesystem::path scratch(const std::string& name) {
  const auto dir = std::filesystem::path(MUELAB_BINARY_DIR) / "tests" / "models" / "scratch" / name;
  std::filesystem::remove_all(dir);
  return dir;
}

}  // namespace muelab::models::cpu::testing
