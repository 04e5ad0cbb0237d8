#include "muelab/experiments/report.hpp"

#include "muelab/experiments/output.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace muelab::experiments {

namespace {
std::string number(double x) { return std::isfinite(x) ? fmt::format("{:.4g}", x) : "n/a"; }

std::string band(const Verdict& v) {
  const ClaimSpec spec{v.claim, "", v.kind, v.sidedness, v.predicted, v.tolerance};
  return spec.describe();
}

std::string figure_cell(const std::map<std::string, std::vector<std::string>>& figures, const std::string& experiment) {
  std::string cell;
  if (const auto it = figures.find(experiment); it != figures.end())
    for (const auto& f : it->second)
      cell += fmt::format("{}[{}]({})", cell.empty() ? "" : " ", std::filesystem::path(f).filename().string(), f);
  return cell;
}
/// "Revision `abc`." when every experiment ran at one commit; otherwise each revision is named.
/// A -dirty revision is flagged: committed evidence must come from a clean commit (docs/claims.md,
/// "Provenance").
std::string revisions_line(const std::vector<VerdictReport>& reports) {
  std::set<std::string> revisions;
  for (const auto& r : reports) revisions.insert(r.revision.empty() ? source_revision() : r.revision);
  if (revisions.empty()) revisions.insert(source_revision());
  std::string line = revisions.size() == 1 ? fmt::format("Revision `{}`.", *revisions.begin()) : "Revisions";
  if (revisions.size() > 1) {
    std::string names;
    for (const auto& r : revisions) names += (names.empty() ? " " : ", ") + fmt::format("`{}`", r);
    line += names + " (experiments run at different commits).";
  }
  for (const auto& r : revisions)
    if (is_dirty_revision(r)) {
      line += " **Some results come from an uncommitted tree (-dirty): not evidence.**";
      break;
    }
  if (std::any_of(reports.begin(), reports.end(), [](const VerdictReport& r) { return r.legacy; }))
    line += " **Experiments marked (legacy) predate three-valued verdicts and declared plans: their rows are "
            "re-judged on their CI against the tolerance they were written with (no edge policy); regenerate them.**";
  if (std::any_of(reports.begin(), reports.end(),
                  [](const VerdictReport& r) { return r.intervals != kWidenedIntervals; }))
    line +=
        " **Experiments marked (percentile intervals) were judged on plain percentile bootstrap intervals, which "
        "cover a seed mean only ≈ 84% of the time over 5–6 seeds and 50% over 2 (docs/claims.md, \"Seeds and "
        "intervals\"): their holds and fails are less certain than 95%; regenerate them.**";
  return line;
}
}  // namespace

std::string report_markdown(const std::vector<VerdictReport>& reports, const std::string& profile, double seconds,
                            const std::map<std::string, std::vector<std::string>>& figures) {
  const auto c = count_verdicts(reports);
  std::ostringstream md;
  md << "# muelab verdicts (" << profile << " profile)\n\n"
     << revisions_line(reports) << " Machine: " << machine_description()
     << fmt::format(", wall time of this invocation {:.0f} s.\n\n", seconds)
     << fmt::format("**{} rows: {} hold, {} fail, {} inconclusive; {} as expected, {} not.**\n\n", c.total, c.holds,
                    c.fails, c.inconclusive, c.as_expected, c.total - c.as_expected)
     << "Each row is judged from its 95% CI against the band declared in the experiment's plan (plan.json): "
        "`holds` when the whole CI is inside, `fails` when it is wholly outside, `inconclusive` when it straddles "
        "a bound or the quantity could not be measured. A claim row is as expected only when it holds, a control "
        "row only when it fails (docs/claims.md).\n\n"
     << "| experiment | revision | rows | hold | fail | inconclusive | as expected | wall time |\n"
     << "|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : reports) {
    const auto e = r.counts();
    md << fmt::format("| [{}]({}/){}{} | `{}` | {} | {} | {} | {} | {} | {} |\n", r.experiment, r.experiment,
                      r.legacy ? " (legacy)" : "", r.intervals != kWidenedIntervals ? " (percentile intervals)" : "",
                      r.revision.empty() ? source_revision() : r.revision, e.total, e.holds, e.fails, e.inconclusive,
                      e.as_expected, r.wall_seconds >= 0 ? fmt::format("{:.0f} s", r.wall_seconds) : "n/a");
  }
  md << "\n"
     << "| claim | experiment | case | kind | measured | 95% CI | predicted | verdict | as expected | figure |\n"
     << "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& r : reports)
    for (const auto& v : r.verdicts)
      md << fmt::format("| `{}` | [{}]({}/) | {} | {} | {} | [{}, {}] | {} | {} | {} | {} |\n", v.claim, r.experiment,
                        r.experiment, v.case_name, to_string(v.kind), number(v.measured), number(v.ci_low),
                        number(v.ci_high), band(v), to_string(v.outcome), v.as_expected() ? "yes" : "**NO**",
                        figure_cell(figures, r.experiment));
  md << "\n## Inconclusive rows\n\n";
  if (c.inconclusive == 0) md << "None.\n";
  for (const auto& r : reports)
    for (const auto& v : r.verdicts)
      if (v.inconclusive())
        md << fmt::format("- `{}` ({}, {}) {}: {}\n", v.claim, r.experiment, to_string(v.kind), v.case_name,
                          v.reason.empty() ? "no reason given" : v.reason);
  md << "\n## Rows that hold or fail against expectation\n\n";
  bool any = false;
  for (const auto& r : reports)
    for (const auto& v : r.verdicts)
      if (!v.as_expected() && !v.inconclusive()) {
        any = true;
        md << fmt::format("- `{}` ({}, {}) {}: {} {} [{}, {}] against {}\n", v.claim, r.experiment, to_string(v.kind),
                          v.case_name, to_string(v.outcome), number(v.measured), number(v.ci_low), number(v.ci_high),
                          band(v));
      }
  if (!any) md << "None.\n";
  return md.str();
}

std::vector<VerdictReport> gather_reports(const std::filesystem::path& profile_dir) {
  namespace fs = std::filesystem;
  std::vector<fs::path> folders;
  if (fs::is_directory(profile_dir))
    for (const auto& entry : fs::directory_iterator(profile_dir))
      if (entry.is_directory() && fs::is_regular_file(entry.path() / "verdicts.json")) folders.push_back(entry.path());
  std::sort(folders.begin(), folders.end());
  std::vector<VerdictReport> reports;
  for (const auto& folder : folders) {
    auto report = read_verdict_report(folder / "verdicts.json");
    std::ifstream run(folder / "run.json");
    if (run) {
      const auto info = nlohmann::json::parse(run, nullptr, /*allow_exceptions=*/false);
      if (info.is_object() && info.contains("wall_seconds") && info["wall_seconds"].is_number())
        report.wall_seconds = info["wall_seconds"].get<double>();
    }
    reports.push_back(std::move(report));
  }
  return reports;
}

void write_report(const std::filesystem::path& out, const std::vector<VerdictReport>& reports,
                  const std::string& profile, double seconds,
                  const std::map<std::string, std::vector<std::string>>& figures) {
  write_file_atomically(out / "REPORT.md", report_markdown(reports, profile, seconds, figures));
}

}  // namespace muelab::experiments
