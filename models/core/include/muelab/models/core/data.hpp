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
//  * MarkovKChain ("markov-k", docs/theory.md §9, "The capacity-bound task"): an order-k chain on V
//    states. Each of the V^k contexts (the last k tokens) has its own next-token law
//    softmax(z_c / temperature), z_c ~ N(0, I_V) from CounterRng(seed); small temperatures make the
//    laws peaked. Learning it means storing a V^k × V table, so the loss falls with FFN/expert
//    capacity. Sequences start in the stationary law of the contexts; the floor of the loss averaged
//    over a sequence's positions is exact (loss_floor): positions t < k − 1 see only t + 1 tokens and
//    pay H(X_{t+1} | X_0..X_t) = H_{t+2} − H_{t+1} (H_m: entropy of m consecutive stationary tokens),
//    later positions the entropy rate Σ_c π_c H(P_c).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
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
  /// Exact floor of the loss averaged over the `seq_len` positions of a sequence (nats/token): the
  /// entropy rate when every position sees its whole context, more when the first positions see less;
  /// negative when unknown.
  [[nodiscard]] virtual double loss_floor(std::int64_t /*seq_len*/) const { return entropy_floor(); }
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
/// The order-k chain's tables: transition[c·V + j] = P(next = j | context c) and the stationary law of
/// the contexts (context c of tokens x_1..x_k, oldest first: c = ((x_1·V + x_2)·V + ...)·V + x_k).
struct MarkovKTable {
  std::int64_t states = 0, order = 0, contexts = 0;
  std::vector<double> transition, stationary;
};
[[nodiscard]] MarkovKTable markov_k_table(std::int64_t states, std::int64_t order, double temperature,
                                          std::uint64_t chain_seed);

/// Throws std::invalid_argument when states^(order+1) exceeds kMarkovKMaxTable (the config loader
/// turns that into a one-line error naming data.markov_order).
[[nodiscard]] std::unique_ptr<TokenSource> make_markov_k_source(std::int64_t states, std::int64_t order,
                                                                double temperature, std::uint64_t chain_seed);
inline constexpr std::int64_t kMarkovKMaxTable = std::int64_t{1} << 24;

/// Exposed for tests: the preprocessing of one text and the symbol map.
[[nodiscard]] std::vector<std::int32_t> encode_text(const std::string& text);
inline constexpr std::int64_t kFortunesVocabulary = 96;

}  // namespace muelab::models
