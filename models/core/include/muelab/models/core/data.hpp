// Token sources for the trainer. Batches are keyed by (seed, step, sequence) through CounterRng, so
// any run is reproducible and independent of the thread count.
//  * FortunesText: character-level English text from Debian's `fortunes` package.
//    Preprocessing: the plain-text files of the directory (names without a suffix; *.dat and *.u8
//    skipped) are read in name order and split into fortunes at lines holding only "%". Tabs become
//    spaces, every byte other than '\n' and printable ASCII (32..126) is dropped. Fortune k (counted
//    over all files) goes to validation when k % validation_every == validation_every − 1, else to
//    training; each split is the concatenation of its fortunes, each followed by "\n".
//    Vocabulary (96 symbols): 0 = '\n', 1 + (c − 32) for printable c.
//  * MarkovChain: a random first-order chain on V states, rows P_i = softmax(z_i / temperature),
//    z ~ N(0, 1) from CounterRng(seed); its entropy rate Σ_i π_i H(P_i) (π stationary) is the floor
//    of the achievable cross-entropy.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace muelab::models {

struct TokenBatch {
  std::vector<std::int32_t> tokens, targets;  ///< batch × seq_len
};

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  [[nodiscard]] virtual std::int64_t vocab_size() const = 0;
  /// Training batch of step `step` (depends only on the seed, the step and the shapes).
  [[nodiscard]] virtual TokenBatch train_batch(std::uint64_t seed, std::int64_t step, std::int64_t batch,
                                               std::int64_t seq_len) const = 0;
  /// Fixed validation batch number `index`.
  [[nodiscard]] virtual TokenBatch validation_batch(std::uint64_t seed, std::int64_t index, std::int64_t batch,
                                                    std::int64_t seq_len) const = 0;
  /// Known entropy floor (nats/token) or a negative value when unknown.
  [[nodiscard]] virtual double entropy_floor() const { return -1.0; }
  [[nodiscard]] virtual std::string description() const = 0;
};

/// Thrown with a one-line message naming the field (data.path) when the text is missing.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[nodiscard]] std::unique_ptr<TokenSource> make_fortunes_source(const std::filesystem::path& directory,
                                                                std::int64_t validation_every);
[[nodiscard]] std::unique_ptr<TokenSource> make_markov_source(std::int64_t states, double temperature,
                                                              std::uint64_t chain_seed);

/// Exposed for tests: the preprocessing of one text and the symbol map.
[[nodiscard]] std::vector<std::int32_t> encode_text(const std::string& text);
inline constexpr std::int64_t kFortunesVocabulary = 96;

}  // namespace muelab::models
