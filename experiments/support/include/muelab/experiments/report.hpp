// REPORT.md: every verdict of a set of experiment runs in one table (docs/claims.md), with the
// counts of holds / fails / inconclusive on top, the rows that are not as expected and every
// inconclusive row with its reason listed below, and links to the figures.
#pragma once

#include "muelab/experiments/verdicts.hpp"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace muelab::experiments {

/// The Markdown text of REPORT.md. `figures`: experiment name -> figure paths relative to the report.
[[nodiscard]] std::string report_markdown(const std::vector<VerdictReport>& reports, const std::string& profile,
                                          double seconds,
                                          const std::map<std::string, std::vector<std::string>>& figures = {});

/// Every experiment's verdicts.json under `profile_dir` (one subfolder per experiment, sorted by
/// name), with the wall time from its run.json: REPORT.md is gathered from what is on disk, so a
/// profile regenerated experiment by experiment (over several sittings) still gets one report.
/// Throws std::runtime_error naming the file on a malformed verdicts.json.
[[nodiscard]] std::vector<VerdictReport> gather_reports(const std::filesystem::path& profile_dir);

/// Writes OUT/REPORT.md atomically.
void write_report(const std::filesystem::path& out, const std::vector<VerdictReport>& reports,
                  const std::string& profile, double seconds,
                  const std::map<std::string, std::vector<std::string>>& figures = {});

}  // namespace muelab::experiments
