#!/usr/bin/python3
"""Size limits of STYLE.md, checked by `make lint`: no function in lib/ or daemon/
longer than 120 lines (from its signature's first line to its closing brace), no
lib/*.c file longer than 1,200 lines. Relies on clang-format's layout: a function's
body opens with "{" alone in column 0 and closes with "}" in column 0."""
import glob
import os
import sys

FUNCTION_MAX = 120
FILE_MAX = 1200
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def functions(lines):
    """(name line, first line, length) of each function body in a clang-formatted file."""
    for i, line in enumerate(lines):
        if line.rstrip("\n") != "{" or i == 0:
            continue
        first = i - 1  # the signature may span lines: back to a blank line or an end
        while first > 0 and lines[first - 1].strip() and \
                not lines[first - 1].rstrip().endswith((";", "}", "*/")) and \
                not lines[first - 1].startswith("#"):
            first -= 1
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("}")), None)
        if end is not None:
            yield lines[first].strip(), first + 1, end - first + 1


def main():
    bad = []
    for path in sorted(glob.glob(os.path.join(ROOT, "lib", "*.c")) +
                       glob.glob(os.path.join(ROOT, "daemon", "*.c"))):
        rel = os.path.relpath(path, ROOT)
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
        if rel.startswith("lib/") and len(lines) > FILE_MAX:
            bad.append(f"{rel}: {len(lines)} lines (at most {FILE_MAX})")
        for name, line, n in functions(lines):
            if n > FUNCTION_MAX:
                bad.append(f"{rel}:{line}: {name} is {n} lines (at most {FUNCTION_MAX})")
    for b in bad:
        print("lengths:", b, file=sys.stderr)
    if not bad:
        print(f"lengths: no function over {FUNCTION_MAX} lines, no lib file over {FILE_MAX}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
