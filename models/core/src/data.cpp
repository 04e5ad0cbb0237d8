#include "muelab/models/core/data.hpp"

#include "muelab/sim/counter_rng.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <stdexcept>
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

MarkovKTable markov_k_table(std::int64_t states, std::int64_t order, double temperature, std::uint64_t chain_seed) {
  if (states < 2 || order < 1 || !(temperature > 0.0))
    throw std::invalid_argument("markov-k: states >= 2, order >= 1 and temperature > 0 required");
  MarkovKTable t;
  t.states = states;
  t.order = order;
  t.contexts = 1;
  for (std::int64_t i = 0; i < order; ++i) {
    if (t.contexts > kMarkovKMaxTable / states) throw std::invalid_argument("markov-k: table too large");
    t.contexts *= states;
  }
  if (t.contexts > kMarkovKMaxTable / states) throw std::invalid_argument("markov-k: table too large");
  const auto v = static_cast<std::size_t>(states);
  const auto n = static_cast<std::size_t>(t.contexts);
  // P[c][j] = softmax(z_c / temperature)_j with z_c ~ N(0, I) keyed by (c, j).
  const sim::CounterRng rng(chain_seed, 0x6d61726b6f766bULL);  // "markovk"
  t.transition.resize(n * v);
  for (std::size_t c = 0; c < n; ++c) {
    double* row = t.transition.data() + c * v;
    double top = -std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < v; ++j) {
      row[j] = rng.normal(c, 1, 0, j) / temperature;
      top = std::max(top, row[j]);
    }
    double total = 0.0;
    for (std::size_t j = 0; j < v; ++j) total += row[j] = std::exp(row[j] - top);
    for (std::size_t j = 0; j < v; ++j) row[j] /= total;
  }
  // Stationary law of the contexts by power iteration (every law has full support, so the chain on
  // contexts is irreducible, and aperiodic through the constant contexts).
  const auto shift = static_cast<std::size_t>(t.contexts / states);
  std::vector<double> pi(n, 1.0 / static_cast<double>(n)), next(n);
  for (int it = 0; it < 100000; ++it) {
    std::fill(next.begin(), next.end(), 0.0);
    for (std::size_t c = 0; c < n; ++c) {
      const std::size_t base = (c % shift) * v;
      for (std::size_t j = 0; j < v; ++j) next[base + j] += pi[c] * t.transition[c * v + j];
    }
    double change = 0.0;
    for (std::size_t c = 0; c < n; ++c) change += std::abs(next[c] - pi[c]);
    pi.swap(next);
    if (change < 1e-14) break;
  }
  t.stationary = std::move(pi);
  return t;
}

namespace {

/// Order-k chain on V states (data.hpp, docs/theory.md §9). Context c of tokens (x_1..x_k), oldest
/// first, is c = ((x_1·V + x_2)·V + ...)·V + x_k; the next context after token j is (c mod V^{k−1})·V + j.
class MarkovKChain final : public TokenSource {
 public:
  MarkovKChain(std::int64_t states, std::int64_t order, double temperature, std::uint64_t chain_seed)
      : states_(states), order_(order) {
    const auto table = markov_k_table(states, order, temperature, chain_seed);
    contexts_ = table.contexts;
    const auto& p = table.transition;
    const auto& pi = table.stationary;
    build_samplers(p, pi);
    entropy_ = 0.0;
    const auto v = static_cast<std::size_t>(states_);
    for (std::size_t c = 0; c < static_cast<std::size_t>(contexts_); ++c) {
      double h = 0.0;
      for (std::size_t j = 0; j < v; ++j) h -= xlogx(p[c * v + j]);
      entropy_ += pi[c] * h;
    }
    // Entropies H_m of m consecutive stationary tokens, m = 1..k (marginals of the context law).
    block_entropy_.assign(static_cast<std::size_t>(order_) + 1, 0.0);
    std::int64_t block = contexts_;
    for (std::int64_t m = order_; m >= 1; --m) {
      std::vector<double> marginal(static_cast<std::size_t>(block), 0.0);  // first m tokens of the context
      const auto stride = static_cast<std::size_t>(contexts_ / block);
      for (std::size_t c = 0; c < static_cast<std::size_t>(contexts_); ++c) marginal[c / stride] += pi[c];
      double h = 0.0;
      for (const double q : marginal) h -= xlogx(q);
      block_entropy_[static_cast<std::size_t>(m)] = h;
      block /= states_;
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
  double loss_floor(std::int64_t seq_len) const override {
    if (seq_len < 1) return entropy_;
    double total = 0.0;
    for (std::int64_t t = 0; t < seq_len; ++t)  // position t predicts x_{t+1} from x_0..x_t
      total += t + 1 >= order_ ? entropy_
                               : block_entropy_[static_cast<std::size_t>(t + 2)] - block_entropy_[static_cast<std::size_t>(t + 1)];
    return total / static_cast<double>(seq_len);
  }
  std::string description() const override {
    return "order-" + std::to_string(order_) + " Markov chain on " + std::to_string(states_) + " states (" +
           std::to_string(contexts_) + " contexts), entropy rate " + std::to_string(entropy_) + " nats/token";
  }

 private:
  static double xlogx(double q) { return q > 0.0 ? q * std::log(q) : 0.0; }

  void build_samplers(const std::vector<double>& p, const std::vector<double>& pi) {
    cdf_.resize(p.size());
    const auto v = static_cast<std::size_t>(states_);
    for (std::size_t c = 0; c < static_cast<std::size_t>(contexts_); ++c) {
      double acc = 0.0;
      for (std::size_t j = 0; j < v; ++j) cdf_[c * v + j] = acc += p[c * v + j];
    }
    context_cdf_.resize(pi.size());
    double acc = 0.0;
    for (std::size_t c = 0; c < pi.size(); ++c) context_cdf_[c] = acc += pi[c];
  }

  static std::int64_t draw(const double* cdf, std::size_t n, double u) {
    const auto it = std::lower_bound(cdf, cdf + n, u * cdf[n - 1]);
    return std::min<std::ptrdiff_t>(it - cdf, static_cast<std::ptrdiff_t>(n) - 1);
  }

  /// x_0..x_{k−1} from the stationary context law, then the chain; tokens x_0..x_{T−1}, targets x_1..x_T.
  TokenBatch sample(const sim::CounterRng& rng, std::uint64_t key, std::int64_t batch, std::int64_t seq_len) const {
    TokenBatch out;
    out.tokens.reserve(static_cast<std::size_t>(batch * seq_len));
    out.targets.reserve(static_cast<std::size_t>(batch * seq_len));
    const auto v = static_cast<std::size_t>(states_);
    const std::int64_t shift = contexts_ / states_;
    std::vector<std::int32_t> x(static_cast<std::size_t>(std::max(seq_len + 1, order_)));
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto bb = static_cast<std::uint64_t>(b);
      std::int64_t context = draw(context_cdf_.data(), context_cdf_.size(), rng.uniform(key, bb, 0, 0));
      for (std::int64_t i = order_ - 1, c = context; i >= 0; --i, c /= states_)
        x[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(c % states_);
      for (std::int64_t t = order_; t <= seq_len; ++t) {
        const auto next = draw(cdf_.data() + static_cast<std::size_t>(context) * v, v,
                               rng.uniform(key, bb, 1, static_cast<std::uint64_t>(t)));
        x[static_cast<std::size_t>(t)] = static_cast<std::int32_t>(next);
        context = (context % shift) * states_ + next;
      }
      for (std::int64_t t = 0; t < seq_len; ++t) {
        out.tokens.push_back(x[static_cast<std::size_t>(t)]);
        out.targets.push_back(x[static_cast<std::size_t>(t + 1)]);
      }
    }
    return out;
  }

  std::int64_t states_, order_, contexts_ = 0;
  std::vector<double> cdf_, context_cdf_, block_entropy_;
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
std::unique_ptr<TokenSource> make_markov_k_source(std::int64_t states, std::int64_t order, double temperature,
                                                  std::uint64_t chain_seed) {
  return std::make_unique<MarkovKChain>(states, order, temperature, chain_seed);
}

}  // namespace muelab::models
