#!/usr/bin/env bash
# clang-format and clang-tidy on the lines a change touches (docs/development.md §3): every C++/CUDA line
# added or edited since BASE must be formatted as .clang-format says and pass the .clang-tidy profile.
# BASE defaults to the commit in .ci/lint-verified — the last commit whose lint, over every line changed
# since .clang-format was adopted, passed CI — while neither .clang-format nor .clang-tidy has changed
# since it; otherwise to the commit that adopted .clang-format. So code older than the profile is
# checked only where it is edited, and lines CI has already passed are not analysed again.
# clang-tidy reads build/dev/compile_commands.json (scripts/build.sh dev). Usage: scripts/lint.sh [BASE]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh lint >/dev/null
adopted="$(git log --diff-filter=A --format=%H -- .clang-format | tail -n 1)"
verified="$(head -n 1 .ci/lint-verified 2>/dev/null | cut -d' ' -f1 || true)"
if [ -n "${1:-}" ]; then
  base="$1"
elif [ -n "$verified" ] && git cat-file -e "$verified^{commit}" 2>/dev/null &&
  git diff --quiet "$verified" HEAD -- .clang-format .clang-tidy; then
  base="$verified"
else
  base="$adopted"
fi
if [ -z "$base" ]; then base=HEAD; fi
code=(-- '*.cpp' '*.hpp' '*.cu' '*.cuh')
status=0

format_diff=$(git diff -U0 --no-color "$base" "${code[@]}" | clang-format-diff-14 -p1 -style=file || true)
if [ -n "$format_diff" ]; then
  echo "lint: clang-format: lines changed since ${base:0:7} are not formatted (apply the diff below):"
  echo "$format_diff"
  status=1
else
  echo "lint: clang-format: every line changed since ${base:0:7} is formatted"
fi

if [ ! -f build/dev/compile_commands.json ]; then
  echo "lint: build/dev/compile_commands.json missing: run scripts/build.sh dev first" >&2
  exit 2
fi
# Only sources the dev build compiles have flags to analyse with (not, e.g., tests/package/consumer).
mapfile -t tidy_files < <(git diff --name-only "$base" -- '*.cpp' | /usr/bin/python3 -c '
import json, os, sys
known = {os.path.realpath(e["file"]) for e in json.load(open("build/dev/compile_commands.json"))}
for line in sys.stdin:
    if os.path.realpath(line.strip()) in known:
        print(line.strip())')
tidy_log=$(mktemp)
if [ ${#tidy_files[@]} -eq 0 ] || git diff -U0 --no-color "$base" -- "${tidy_files[@]}" | \
    clang-tidy-diff-14.py -p1 -path build/dev -j "$(nproc)" -quiet -clang-tidy-binary clang-tidy-14 >"$tidy_log" 2>&1; then
  echo "lint: clang-tidy: no finding on the lines changed since ${base:0:7}"
else
  echo "lint: clang-tidy: findings on the lines changed since ${base:0:7}:"
  grep -E "(error|warning):" "$tidy_log" | sort -u | head -50
  status=1
fi
rm -f "$tidy_log"
exit $status
