// Rendering transfer results: human table, JSON (a contract, see README), CSV, and the
// factor-by-factor explanation printed by `muelab transfer --explain`.
#pragma once

#include "muelab/theory/transfer.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace muelab::theory {

[[nodiscard]] nlohmann::json to_json(const TransferResult& result);
[[nodiscard]] std::string format_table(const TransferResult& result);
[[nodiscard]] std::string format_explain(const TransferResult& result);
/// One row per (rule, group); the same columns for one rule or many.
[[nodiscard]] std::string format_csv(const std::vector<TransferResult>& results);
/// Every rule source side by side: one block per quantity, groups as rows, rules as columns.
[[nodiscard]] std::string format_comparison_table(const std::vector<TransferResult>& results);

}  // namespace muelab::theory
