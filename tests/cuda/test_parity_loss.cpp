// CUDA parity suite, embeddings and loss stage (models/cuda/src/loss.cu): embeddings forward and
// their scatter backward, cross-entropy (rows and mean) and its backward. Fixtures:
// parity_fixtures.hpp.
#include "parity_fixtures.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

TEMPLATE_TEST_CASE("cuda parity: embeddings, cross-entropy loss and its backward", "[cuda][parity]", float, double) {
  using T = TestType;
  const index_t seq = 7, n = 3 * seq, V = 17, d = 9;
  const auto tok = draws<T>(static_cast<std::size_t>(V * d), 15), pos = draws<T>(static_cast<std::size_t>(seq * d), 16);
  const auto logits = draws<T>(static_cast<std::size_t>(n * V), 17, 3.0),
             dx = draws<T>(static_cast<std::size_t>(n * d), 18);
  std::vector<std::int32_t> tokens(static_cast<std::size_t>(n)), targets(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) {
    tokens[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((5 * i + 3) % V);
    targets[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((7 * i + 1) % V);
  }
  std::vector<T> x(static_cast<std::size_t>(n * d)), probs(logits.size()), dlogits(logits.size());
  std::vector<T> dtok(tok.size(), T(0)), dpos(pos.size(), T(0));
  double loss = 0.0;
  for (index_t i = 0; i < n; ++i) {
    for (index_t k = 0; k < d; ++k)
      x[static_cast<std::size_t>(i * d + k)] =
          T(2) * (tok[static_cast<std::size_t>(tokens[static_cast<std::size_t>(i)] * d + k)] +
                  pos[static_cast<std::size_t>(i % seq * d + k)]);
    loss += static_cast<double>(
        sh::cross_entropy_row(logits.data() + i * V, V, targets[static_cast<std::size_t>(i)], probs.data() + i * V));
    for (index_t v = 0; v < V; ++v)
      dlogits[static_cast<std::size_t>(i * V + v)] =
          (probs[static_cast<std::size_t>(i * V + v)] - (v == targets[static_cast<std::size_t>(i)] ? T(1) : T(0))) /
          static_cast<T>(n);
    for (index_t k = 0; k < d; ++k) {
      dtok[static_cast<std::size_t>(tokens[static_cast<std::size_t>(i)] * d + k)] +=
          T(2) * dx[static_cast<std::size_t>(i * d + k)];
      dpos[static_cast<std::size_t>(i % seq * d + k)] += T(2) * dx[static_cast<std::size_t>(i * d + k)];
    }
  }
  loss /= static_cast<double>(n);
  mc::DeviceArray<T> g_tok(tok), g_pos(pos), g_logits(logits), g_dx(dx), g_x(x.size()), g_probs(probs.size()),
      g_dlogits(dlogits.size()), g_dtok(tok.size()), g_dpos(pos.size());
  mc::DeviceArray<std::int32_t> g_tokens(tokens), g_targets(targets);
  mc::DeviceArray<double> g_rows(static_cast<std::size_t>(n)), g_loss(1);
  g_dtok.zero();
  g_dpos.zero();
  mc::embedding_forward(g_tok.data(), g_pos.data(), g_tokens.data(), n, seq, d, T(2), g_x.data());
  mc::embedding_backward(g_dx.data(), g_tokens.data(), n, seq, V, d, T(2), g_dtok.data(), g_dpos.data());
  mc::cross_entropy(g_logits.data(), g_targets.data(), n, V, g_probs.data(), g_rows.data(), g_loss.data());
  mc::cross_entropy_backward(g_probs.data(), g_targets.data(), n, V, g_dlogits.data());
  mc::synchronize();
  CHECK_PARITY(g_x.download(), x, tolerance<T>());
  CHECK_PARITY(g_dtok.download(), dtok, tolerance<T>());
  CHECK_PARITY(g_dpos.download(), dpos, tolerance<T>());
  CHECK(g_loss.download()[0] == Approx(loss).epsilon(tolerance<T>()));
  CHECK_PARITY(g_probs.download(), probs, tolerance<T>());
  CHECK_PARITY(g_dlogits.download(), dlogits, tolerance<T>());
}
