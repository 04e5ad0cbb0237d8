#include "muelab/models/core/data.hpp"

#include "muelab/sim/counter_rng.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace muelab::models {

namespace {

constexpr std::uint64_t kTrainStream = 0x747261696eULL;       // "train"
constexpr std::uint64_t kValidationStream = 0x76616cULL;      // "val"

std::vector<std::int32_t> encode_impl(const std::string& text) {
  std::vector<std::int32_t> out;
  out.reserve(text.size());
  for (const char raw : text) {
    const auto c = static_cast<unsigned char>(raw == '\t' ? ' ' : raw);
    if (c == '\n') out.push_back(0);
    else if (c >= 32 && c <= 126) out.push_back(static_cast<std::int32_t>(c) - 31);
  }
  return out;
}

TokenBatch windows(const std::vector<std::int32_t>& text, const sim::CounterRng& rng, std::uint64_t key,
                   std::int64_t batch, std::int64_t seq_len) {
  TokenBatch out;
  const auto starts = static_cast<std::uint64_t>(static_cast<std::int64_t>(text.size()) - seq_len - 1);
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto start = static_cast<std::int64_t>(rng.below(starts, key, static_cast<std::uint64_t>(b), 0, 0));
    for (std::int64_t t = 0; t < seq_len; ++t) {
      out.tokens.push_back(text[static_cast<std::size_t>(start + t)]);
      out.targets.push_back(text[static_cast<std::size_t>(start + t + 1)]);
    }
  }
  return out;
}

class FortunesText final : public TokenSource {
 public:
  FortunesText(const std::filesystem::path& dir, std::int64_t validation_every) : dir_(dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
      throw DataError("data.path: fortunes text not found at " + dir.string() +
                      " (install Debian's `fortunes` package, or set data.path to its text directory)");
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
      if (entry.is_regular_file() && !entry.path().has_extension()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    std::int64_t index = 0;
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      std::string line, fortune;
      const auto flush = [&] {
        if (fortune.empty()) return;
        auto& split = (index % validation_every == validation_every - 1) ? validation_text_ : train_text_;
        split += fortune;
        split += '\n';
        fortune.clear();
        ++index;
      };
      while (std::getline(in, line)) {
        if (line == "%") flush();
        else fortune += line + '\n';
      }
      flush();
    }
    train_ = encode_impl(train_text_);
    validation_ = encode_impl(validation_text_);
    fortunes_ = index;
    if (train_.size() < 4096 || validation_.size() < 1024)
      throw DataError("data.path: too little fortunes text under " + dir.string() + " (" +
                      std::to_string(train_.size()) + " training characters)");
  }
  std::int64_t vocab_size() const override { return kFortunesVocabulary; }
  TokenBatch train_batch(std::uint64_t seed, std::int64_t step, std::int64_t batch, std::int64_t seq_len) const override {
    return windows(train_, sim::CounterRng(seed, kTrainStream), static_cast<std::uint64_t>(step), batch, seq_len);
  }
  TokenBatch validation_batch(std::uint64_t seed, std::int64_t index, std::int64_t batch,
                              std::int64_t seq_len) const override {
    return windows(validation_, sim::CounterRng(seed, kValidationStream), static_cast<std::uint64_t>(index), batch,
                   seq_len);
  }
  std::string description() const override {
    std::ostringstream s;
    s << "fortunes text at " << dir_.string() << ": " << fortunes_ << " fortunes, " << train_.size()
      << " training and " << validation_.size() << " validation characters";
    return s.str();
  }

 private:
  std::filesystem::path dir_;
  std::string train_text_, validation_text_;
  std::vector<std::int32_t> train_, validation_;
  std::int64_t fortunes_ = 0;
};

class MarkovChain final : public TokenSource {
 public:
  MarkovChain(std::int64_t states, double temperature, std::uint64_t chain_seed) : states_(states) {
    const sim::CounterRng rng(chain_seed, 0x6d61726b6f76ULL);  // "markov"
    const auto v = static_cast<std::size_t>(states);
    cdf_.assign(v * v, 0.0);
    std::vector<double> p(v * v);
    for (std::size_t i = 0; i < v; ++i) {
      double total = 0.0;
      for (std::size_t j = 0; j < v; ++j) {
        p[i * v + j] = std::exp(rng.normal(i, 0, 0, j) / temperature);
        total += p[i * v + j];
      }
      double acc = 0.0;
      for (std::size_t j = 0; j < v; ++j) {
        p[i * v + j] /= total;
        acc += p[i * v + j];
        cdf_[i * v + j] = acc;
      }
    }
    // Stationary distribution by power iteration (the chain is irreducible and aperiodic: all P_ij > 0).
    std::vector<double> pi(v, 1.0 / static_cast<double>(v)), next(v);
    for (int it = 0; it < 10000; ++it) {
      std::fill(next.begin(), next.end(), 0.0);
      for (std::size_t i = 0; i < v; ++i)
        for (std::size_t j = 0; j < v; ++j) next[j] += pi[i] * p[i * v + j];
      double change = 0.0;
      for (std::size_t j = 0; j < v; ++j) change += std::abs(next[j] - pi[j]);
      pi.swap(next);
      if (change < 1e-15) break;
    }
    stationary_cdf_.resize(v);
    double acc = 0.0;
    entropy_ = 0.0;
    for (std::size_t i = 0; i < v; ++i) {
      acc += pi[i];
      stationary_cdf_[i] = acc;
      double h = 0.0;
      for (std::size_t j = 0; j < v; ++j) h -= p[i * v + j] * std::log(p[i * v + j]);
      entropy_ += pi[i] * h;
    }
  }
  std::int64_t vocab_size() const override { return states_; }
  TokenBatch train_batch(std::uint64_t seed, std::int64_t step, std::int64_t batch, std::int64_t seq_len) const override {
    return sample(sim::CounterRng(seed, kTrainStream), static_cast<std::uint64_t>(step), batch, seq_len);
  }
  TokenBatch validation_batch(std::uint64_t seed, std::int64_t index, std::int64_t batch,
                              std::int64_t seq_len) const override {
    return sample(sim::CounterRng(seed, kValidationStream), static_cast<std::uint64_t>(index), batch, seq_len);
  }
  double entropy_floor() const override { return entropy_; }
  std::string description() const override {
    return "random Markov chain on " + std::to_string(states_) + " states, entropy rate " + std::to_string(entropy_) +
           " nats/token";
  }

 private:
  static std::int32_t draw(const double* cdf, std::size_t n, double u) {
    const auto it = std::lower_bound(cdf, cdf + n, u);
    return static_cast<std::int32_t>(std::min<std::ptrdiff_t>(it - cdf, static_cast<std::ptrdiff_t>(n) - 1));
  }
  TokenBatch sample(const sim::CounterRng& rng, std::uint64_t key, std::int64_t batch, std::int64_t seq_len) const {
    TokenBatch out;
    const auto v = static_cast<std::size_t>(states_);
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto bb = static_cast<std::uint64_t>(b);
      std::int32_t state = draw(stationary_cdf_.data(), v, rng.uniform(key, bb, 0, 0));
      for (std::int64_t t = 0; t < seq_len; ++t) {
        const std::int32_t next =
            draw(cdf_.data() + static_cast<std::size_t>(state) * v, v, rng.uniform(key, bb, 1, static_cast<std::uint64_t>(t)));
        out.tokens.push_back(state);
        out.targets.push_back(next);
        state = next;
      }
    }
    return out;
  }
  std::int64_t states_;
  std::vector<double> cdf_, stationary_cdf_;
  double entropy_ = 0.0;
};

}  // namespace

std::vector<std::int32_t> encode_text(const std::string& text) { return encode_impl(text); }

std::unique_ptr<TokenSource> make_fortunes_source(const std::filesystem::path& directory, std::int64_t validation_every) {
  return std::make_unique<FortunesText>(directory, validation_every);
}
std::unique_ptr<TokenSource> make_markov_source(std::int64_t states, double temperature, std::uint64_t chain_seed) {
  return std::make_unique<MarkovChain>(states, temperature, chain_seed);
}

}  // namespace muelab::models
