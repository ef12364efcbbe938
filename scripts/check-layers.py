#!/usr/bin/env python3
"""scripts/check-layers.py - the layering rule of ARCHITECTURE.md, checked over #include lines.

Layers, top to bottom: top (daemon/main.c and the wiring beside it, daemon/serve*); the two
faces, api and cli (neither includes the other); service (pool, probe, status snapshot,
systemd); jobs; render; engine; core. A file may include headers of its own layer and of layers
it may depend on; a public header (include/migrated/X.h) belongs to the layer of the folder
that holds X.c. Prints each violation as FILE:LINE and ends with "layers: N passed, N failed".
    scripts/check-layers.py [SOURCE_ROOT]
"""
import os
import re
import sys

# What each layer must never include (everything not listed is allowed).
FORBIDDEN = {
    "core": {"engine", "render", "jobs", "service", "cli", "api", "top"},
    "engine": {"render", "jobs", "service", "cli", "api", "top"},
    "render": {"jobs", "service", "cli", "api", "top"},
    "jobs": {"service", "cli", "api", "top"},
    "service": {"cli", "api", "top"},
    "cli": {"api", "top"},
    "api": {"cli", "top"},
}
INCLUDE = re.compile(r'\s*#\s*include\s*[<"](?:migrated/)?([^">/]+\.h)[">]')


def layer_of(rel):
    """The layer of a folder relative to the root, or None outside the layered tree."""
    if rel == "daemon" or rel.startswith(("daemon/main", "daemon/serve")):
        return "top"
    for prefix, name in (("api", "api"), ("daemon/render", "render"), ("daemon/cli", "cli"),
                         ("daemon/jobs", "jobs"), ("daemon/service", "service"),
                         ("daemon/engine", "engine"), ("daemon/core", "core")):
        if rel == prefix or rel.startswith(prefix + "/"):
            return name
    return None


def sources(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith((".", "build", "tests", "bench"))]
        for f in files:
            if f.endswith((".c", ".h")):
                yield os.path.relpath(d, root), f


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    home = {}  # header name -> folder of the .c file that implements it
    for rel, f in sources(root):
        if f.endswith(".c"):
            home.setdefault(f[:-2] + ".h", rel)
    bad = checked = 0
    for rel, f in sources(root):
        me = layer_of(home.get(f, "")) if rel.startswith("include") else layer_of(rel)
        if me not in FORBIDDEN:
            continue
        checked += 1
        with open(os.path.join(root, rel, f), errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                m = INCLUDE.match(line)
                theirs = layer_of(home.get(m.group(1), "")) if m else None
                if theirs in FORBIDDEN[me]:
                    print(f"{rel}/{f}:{n}: {me} includes {m.group(1)} ({theirs})")
                    bad += 1
    print(f"layers: {0 if bad else 1} passed, {1 if bad else 0} failed ({checked} files, {bad} upward includes)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
