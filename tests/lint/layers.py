#!/usr/bin/env python3
"""Check lib/'s include lines against the layer map in lib/README.md: no module
includes a header of a layer above its own, no include circle between modules, and an
internal header is included only by the files it is for. Exit 1 with one line per fault."""
import fnmatch
import os
import re
import sys

LIB = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../lib")
ROW = re.compile(r"^\|\s*([a-z]+)\s*\|\s*([a-z_* ]+?)\s*\|")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# Internal headers and the file patterns that may include them; NAME_internal.h is for
# NAME.c and NAME_*.c unless listed here.
INTERNAL = {"station_internal.h": ["station.c", "cmd_*.c"]}


def layer_map():
    layers = []  # [(layer, [module patterns])], bottom first
    with open(os.path.join(LIB, "README.md"), encoding="utf-8") as f:
        for line in f:
            m = ROW.match(line)
            if m and m.group(1) != "layer":
                layers.append((m.group(1), m.group(2).split()))
    return layers


def module_of(filename):
    """lib/foo_internal.h -> foo; foo.c, foo.h -> foo."""
    stem = filename.rsplit(".", 1)[0]
    return stem[: -len("_internal")] if stem.endswith("_internal") else stem


def main():
    layers = layer_map()
    if not layers:
        print(f"{LIB}/README.md: no layer table found")
        return 1

    def rank(module):
        for i, (_, patterns) in enumerate(layers):
            if any(fnmatch.fnmatchcase(module, p) for p in patterns):
                return i
        return None

    faults = []
    edges = {}
    for name in sorted(os.listdir(LIB)):
        if not name.endswith((".c", ".h")):
            continue
        mod = module_of(name)
        r = rank(mod)
        if r is None:
            faults.append(f"lib/{name}: module '{mod}' has no layer in lib/README.md")
            continue
        with open(os.path.join(LIB, name), encoding="utf-8") as f:
            includes = INCLUDE.findall(f.read())
        for inc in includes:
            if not os.path.exists(os.path.join(LIB, inc)):
                continue  # a system or generated header
            dep = module_of(inc)
            if dep != mod:
                edges.setdefault(mod, set()).add(dep)
            if inc.endswith("_internal.h"):
                allowed = INTERNAL.get(inc, [f"{dep}.c", f"{dep}_*.c", f"{dep}.h", f"{dep}_*.h"])
                if not any(fnmatch.fnmatchcase(name, p) for p in allowed):
                    faults.append(f"lib/{name}: includes {inc}, which is internal to {dep}")
                continue
            dr = rank(dep)
            if dr is None:
                faults.append(f"lib/{name}: includes {inc}: module '{dep}' has no layer")
            elif dr > r:
                faults.append(f"lib/{name}: includes {inc}: layer {layers[r][0]} may not "
                              f"include layer {layers[dr][0]}")

    # Circles between modules: depth-first search, reporting each circle once.
    state, stack, seen_cycles = {}, [], set()

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(edges.get(m, ())):
            if state.get(d) == 1:
                cycle = stack[stack.index(d):] + [d]
                key = frozenset(cycle)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    faults.append("include circle: " + " -> ".join(cycle))
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)

    for fault in faults:
        print(fault)
    if not faults:
        print(f"layers: {sum(len(p) for _, p in layers)} module patterns in {len(layers)} "
              "layers, no upward include, no circle")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
