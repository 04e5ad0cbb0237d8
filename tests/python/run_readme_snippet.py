#!/usr/bin/env python3
"""Runs the README's PyTorch snippet (the ```python block that starts with `import torch, muelab`) as a
user would paste it, so that the copy-paste example cannot rot. Usage: run_readme_snippet.py README.md"""
import sys

text = open(sys.argv[1], encoding="utf-8").read()
start = text.find("```python\nimport torch, muelab")
if start < 0:
    sys.exit("README: no ```python block starting with `import torch, muelab`")
body = text[start + len("```python\n"):text.index("```", start + 10)]
exec(compile(body, "README.md (PyTorch snippet)", "exec"), {"__name__": "__main__"})
