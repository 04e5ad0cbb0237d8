#include "muelab/experiments/sweep.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace muelab::experiments {

namespace {

std::string csv_cell(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string quoted = "\"";
  for (char c : s) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

/// An exclusive advisory lock on DIR/results.csv.lock for the lifetime of the object, so that
/// local jobs, shards on a shared file system and MPI rank 0 never interleave rows.
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path) : fd_(::open(path.c_str(), O_RDWR | O_CREAT, 0644)) {
    if (fd_ < 0 || ::flock(fd_, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + path.string());
  }
  ~FileLock() {
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_UN);
      ::close(fd_);
    }
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_all(int fd, const std::string& text) {
  std::size_t written = 0;
  while (written < text.size()) {
    const auto n = ::write(fd, text.data() + written, text.size() - written);
    if (n <= 0) throw std::runtime_error("write to results.csv failed");
    written += static_cast<std::size_t>(n);
  }
}

}  // namespace

const std::vector<std::string>& ResultsStore::summary_columns() {
  static const std::vector<std::string> columns = {"final_train_loss", "final_validation_loss", "best_validation_loss",
                                                   "diverged_step",    "wall_time_s",           "tokens_per_s"};
  return columns;
}

ResultsStore::ResultsStore(std::filesystem::path dir, std::vector<std::string> swept_keys)
    : dir_(std::move(dir)), keys_(std::move(swept_keys)) {}

std::map<std::string, std::string> ResultsStore::load_finished() const {
  std::filesystem::create_directories(dir_);
  FileLock lock(dir_ / "results.csv.lock");
  std::string header = "run_id,status,exit_code";
  for (const auto& k : keys_) {
    header += ',';
    header += csv_cell(k);
  }
  for (const auto& c : summary_columns()) header += "," + c;
  header += "\n";
  std::string text = read_all(path());
  if (text.empty()) {
    const int fd = ::open(path().c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0) throw std::runtime_error("cannot create " + path().string());
    write_all(fd, header);
    ::close(fd);
    return {};
  }
  if (text.rfind(header, 0) != 0)
    throw std::runtime_error(fmt::format("{} belongs to a different sweep (its header differs); use another --out",
                                         path().string()));
  if (text.back() != '\n') {  // a writer was killed inside its row: drop the torn tail
    text.erase(text.rfind('\n') + 1);
    std::filesystem::resize_file(path(), text.size());
  }
  std::map<std::string, std::string> finished;
  std::istringstream lines(text.substr(header.size()));
  for (std::string line; std::getline(lines, line);) {
    const auto comma = line.find(',');
    const auto second = line.find(',', comma + 1);
    if (comma == std::string::npos || second == std::string::npos) continue;
    finished[line.substr(0, comma)] = line.substr(comma + 1, second - comma - 1);
  }
  return finished;
}

bool ResultsStore::append(const SweepRun& run, const std::string& status, int exit_code,
                          const std::map<std::string, std::string>& summary) const {
  std::string row = csv_cell(run.id) + "," + csv_cell(status) + "," + std::to_string(exit_code);
  for (const auto& k : keys_) {
    std::string value;
    for (const auto& [key, v] : run.values)
      if (key == k) value = v;
    row += ',';
    row += csv_cell(value);
  }
  for (const auto& c : summary_columns()) {
    const auto it = summary.find(c);
    row += ',';
    row += csv_cell(it == summary.end() ? std::string() : it->second);
  }
  row += "\n";
  FileLock lock(dir_ / "results.csv.lock");
  const std::string text = read_all(path());
  if (text.find("\n" + run.id + ",") != std::string::npos) return false;
  const int fd = ::open(path().c_str(), O_WRONLY | O_APPEND);
  if (fd < 0) throw std::runtime_error("cannot append to " + path().string());
  write_all(fd, row);  // one write of a whole row under the lock
  ::fsync(fd);
  ::close(fd);
  return true;
}

}  // namespace muelab::experiments
