#include "run_journal.hpp"

#include "muelab/experiments/output.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iostream>
#include <limits>
#include <stdexcept>
#include <utility>

namespace muelab::experiments::transformer {

namespace {

/// Parses a loss written by record(): a finite number or "inf". Anything else (a line cut by a kill
/// mid-write) is not a loss.
std::optional<double> parse_loss(const std::string& text) {
  if (text == "inf") return std::numeric_limits<double>::infinity();
  try {
    std::size_t used = 0;
    const double v = std::stod(text, &used);
    if (used != text.size() || !std::isfinite(v)) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

RunJournal::RunJournal(std::filesystem::path file, std::string revision)
    : file_(std::move(file)), revision_(std::move(revision)), reusable_(is_clean_revision(revision_)) {
  if (!reusable_) return;  // a dirty tree neither reads nor writes a journal: its lines could never be reused
  bool foreign = false;
  if (std::ifstream in(file_); in) {
    std::string line;
    while (std::getline(in, line)) {
      const auto a = line.find('\t');
      const auto b = a == std::string::npos ? std::string::npos : line.rfind('\t');
      if (b == std::string::npos || b == a) continue;  // a truncated last line: that run is trained again
      const auto loss = parse_loss(line.substr(b + 1));
      if (!loss) continue;
      if (!reusable_ || line.substr(0, a) != revision_) {
        foreign = true;
        continue;
      }
      losses_[line.substr(a + 1, b - a - 1)] = *loss;
    }
  }
  loaded_ = losses_.size();
  if (!file_.parent_path().empty()) std::filesystem::create_directories(file_.parent_path());
  // Rewritten from what is kept: foreign lines go, and a truncated last line cannot glue onto the next.
  std::ofstream rewrite(file_, std::ios::trunc);
  if (!rewrite) throw std::runtime_error(fmt::format("resume journal: cannot write {}", file_.string()));
  for (const auto& [fingerprint, loss] : losses_)
    rewrite << revision_ << '\t' << fingerprint << '\t' << (std::isinf(loss) ? std::string("inf") : fmt::format("{:.17g}", loss)) << '\n';
  rewrite.close();
  if (foreign)
    std::cerr << fmt::format("resume journal {}: lines from another revision than {} dropped\n",
                             file_.string(), revision_);
  append_.open(file_, std::ios::app);
}

std::optional<double> RunJournal::find(const std::string& fingerprint) const {
  if (!reusable_) return std::nullopt;
  const auto it = losses_.find(fingerprint);
  if (it == losses_.end()) return std::nullopt;
  return it->second;
}

void RunJournal::record(const std::string& fingerprint, double loss) {
  if (fingerprint.find_first_of("\t\n") != std::string::npos)
    throw std::invalid_argument("resume journal: a fingerprint must not contain a tab or a newline");
  if (!reusable_) return;
  const std::string value = std::isfinite(loss) ? fmt::format("{:.17g}", loss) : std::string("inf");
  std::lock_guard<std::mutex> lock(mutex_);
  append_ << revision_ << '\t' << fingerprint << '\t' << value << '\n' << std::flush;
}

std::filesystem::path journal_path(const std::filesystem::path& scratch) {
  return scratch.parent_path() / "resume.tsv";
}

}  // namespace muelab::experiments::transformer
