#!/usr/bin/env python3
"""The declared link graph of muelab against what its code includes (docs/development.md §2).

Configures the source tree into a scratch folder (optionally with MUELAB_SKIP_PARTS), reads the
direct links CMake declares (`cmake --graphviz`), scans every library's sources for
`#include "muelab/..."` and fails when
  - a library includes a header of a library it does not link directly, or of a part left out;
  - a library links a muelab library whose headers it never includes (an unused link);
  - a link is PUBLIC although no public header needs it, or PRIVATE although one does;
  - any target (tests and benchmarks too) links a muelab_* name that is not a target of this build;
  - a source or header under a library folder belongs to no library of the table below.
Usage: check_link_graph.py SOURCE_DIR [--skip "sde;meanfield"] [--cmake cmake]
Exit 0 when the graph matches, 1 with one line per finding otherwise.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

# Folder (or file) prefix -> the library whose sources live there; the longest prefix wins.
# Each folder's CMakeLists.txt builds exactly these files.
OWNERS = {
    "io": "muelab_io",
    "theory": "muelab_theory",
    "sim/common": "muelab_sim_common",
    "sim/sde": "muelab_sim_sde",
    "sim/meanfield": "muelab_sim_meanfield",
    "models/core": "muelab_models_core",
    "models/shared": "muelab_models_shared",
    "models/cpu": "muelab_models_cpu",
    "models/cuda": "muelab_models_cuda",
    "experiments/support": "muelab_experiment_support",
    "experiments/program_main.cpp": "muelab_experiment_catalog",
    "experiments/sweep": "muelab_sweep",
    "experiments/analysis": "muelab_analysis",
    "experiments/metrics": "muelab_transformer_metrics",
    "experiments/transformer": "muelab_experiments_transformer",
    "experiments/sde": "muelab_experiments_sde",
    "experiments/meanfield": "muelab_experiments_meanfield",
    "cli": "muelab",
    "cli/cuda_backend": "muelab_cuda_backend",
    "python/src": "_muelab",
}
# Libraries that exist only to gather others (the catalog links every registered experiment family and
# defines the registry that muelab/experiments/registry.hpp declares): linked without their headers,
# and their own links are checked only for presence.
GATHERERS = {"muelab_experiment_catalog"}
# Build-only helpers that carry flags, not code.
FLAG_TARGETS = {"muelab_warnings", "muelab_revision"}
# Headers generated into the build tree (cmake/Revision.cmake).
GENERATED = {"muelab/revision.hpp"}
CODE = (".cpp", ".hpp", ".cu", ".cuh", ".h")
INCLUDE = re.compile(r'^\s*#\s*include\s+"(muelab/[^"]+)"')
CONDITION = re.compile(r'^\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b(.*)')
# Headers of an optional backend are included under `#if MUELAB_HAVE_CUDA` (or another MUELAB_HAVE_*):
# needed only when that backend is part of the build.
OPTIONAL_GUARD = re.compile(r'MUELAB_HAVE_\w+')


def includes_of(text):
    """[(header, optional)] for every muelab include, optional when under a MUELAB_HAVE_* condition."""
    found, stack = [], []
    for line in text.splitlines():
        cond = CONDITION.match(line)
        if cond:
            word, rest = cond.groups()
            if word in ("if", "ifdef", "ifndef"):
                stack.append(bool(OPTIONAL_GUARD.search(rest)))
            elif word == "endif" and stack:
                stack.pop()
            continue
        inc = INCLUDE.match(line)
        if inc:
            found.append((inc.group(1), any(stack)))
    return found


def owner_of(rel):
    best = None
    for prefix, target in OWNERS.items():
        if rel == prefix or rel.startswith(prefix + "/"):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, target)
    return best[1] if best else None


def scan_sources(source):
    """{target: [(rel_path, is_public_header)]} and {'muelab/...': target} for public headers."""
    files, headers = {}, {}
    for prefix in OWNERS:
        root = os.path.join(source, prefix)
        walk = os.walk(root) if os.path.isdir(root) else [(os.path.dirname(root), [], [os.path.basename(root)])]
        for folder, _, names in walk:
            for name in names:
                if not name.endswith(CODE):
                    continue
                rel = os.path.relpath(os.path.join(folder, name), source)
                target = owner_of(rel)
                public = "/include/" in "/" + rel
                files.setdefault(target, set()).add((rel, public))
                if public:
                    headers[rel.split("/include/", 1)[1]] = target
    return files, headers


def read_graph(dot_path):
    """Nodes {label: shape} and direct edges [(from, to, style)] of `cmake --graphviz`."""
    text = open(dot_path, encoding="utf-8").read()
    labels, shapes = {}, {}
    for node, label, shape in re.findall(r'"(node\d+)" \[ label = "([^"]+)", shape = (\w+) \]', text):
        label = label.split("\\n", 1)[0]  # "muelab_theory\n(muelab::theory)": the target, then its aliases
        labels[node] = label
        shapes[label] = shape
    edges = [(labels[a], labels[b], style or "solid")  # a PUBLIC link carries no style
             for a, b, style in re.findall(r'"(node\d+)" -> "(node\d+)"(?: \[ style = (\w+) \])?', text)]
    return shapes, edges


def configure(source, skip, cmake, scratch):
    build = os.path.join(scratch, "build")
    dot = os.path.join(scratch, "graph", "muelab.dot")
    os.makedirs(os.path.dirname(dot))
    cmd = [cmake, "-S", source, "-B", build, f"--graphviz={dot}", f"-DMUELAB_SKIP_PARTS={skip}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        sys.exit(f"check_link_graph: configure with MUELAB_SKIP_PARTS='{skip}' failed:\n{tail}")
    return dot


def check(source, shapes, edges):
    findings = []
    files, headers = scan_sources(source)
    built = {label for label, shape in shapes.items() if shape != "septagon"}
    declared = {}
    for src, dst, style in edges:
        if dst.startswith("muelab_") and dst not in built:
            findings.append(f"{src} links {dst}, which is not a target of this build")
        if shapes.get(dst) == "tripleoctagon":
            continue  # a MODULE is never linked: the edge is add_dependencies' build order (cli/cuda_backend)
        if dst.startswith("muelab") and dst in built and dst not in FLAG_TARGETS:
            declared.setdefault(src, {})[dst] = style
    for target, entries in sorted(files.items()):
        if target is None:
            findings.extend(f"{rel} belongs to no library" for rel, _ in sorted(entries))
            continue
        if target not in built:
            continue  # a part left out of this build
        public_needs, private_needs = set(), set()
        for rel, public in sorted(entries):
            text = open(os.path.join(source, rel), encoding="utf-8", errors="replace").read()
            for header, optional in includes_of(text):
                if header in GENERATED:
                    continue
                need = headers.get(header)
                if need is None:
                    findings.append(f"{rel} includes {header}, which no library provides")
                elif need not in built and optional:
                    continue
                elif need not in built:
                    findings.append(f"{rel} includes {header} of {need}, which this build leaves out")
                elif need != target:
                    (public_needs if public else private_needs).add(need)
        private_needs -= public_needs
        links = declared.get(target, {})
        if target in GATHERERS:
            links = {k: v for k, v in links.items() if k in public_needs | private_needs}
            findings.extend(f"{target} includes headers of {need} but does not link it directly"
                            for need in sorted((public_needs | private_needs) - set(links)))
            continue
        interface = shapes.get(target) == "pentagon"
        for need in sorted(public_needs | private_needs):
            if need not in links:
                findings.append(f"{target} includes headers of {need} but does not link it directly")
                continue
            style = links[need]
            want = "dashed" if interface else ("solid" if need in public_needs else "dotted")
            if target == "muelab":
                want = "dotted"  # an executable has no public interface
            if style != want:
                kind = {"solid": "PUBLIC", "dotted": "PRIVATE", "dashed": "INTERFACE"}
                findings.append(f"{target} links {need} {kind[style]}; its includes make it {kind[want]}")
        for link in sorted(set(links) - public_needs - private_needs - GATHERERS):
            findings.append(f"{target} links {link} but includes none of its headers")
    return findings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("--skip", default="", help="MUELAB_SKIP_PARTS for this configuration")
    parser.add_argument("--cmake", default="cmake")
    args = parser.parse_args()
    source = os.path.abspath(args.source)
    with tempfile.TemporaryDirectory(prefix="muelab-link-graph-") as scratch:
        shapes, edges = read_graph(configure(source, args.skip, args.cmake, scratch))
    findings = check(source, shapes, edges)
    label = f"MUELAB_SKIP_PARTS='{args.skip}'"
    for line in findings:
        print(f"link graph ({label}): {line}")
    if findings:
        return 1
    print(f"link graph ({label}): {len(edges)} declared links match the includes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
