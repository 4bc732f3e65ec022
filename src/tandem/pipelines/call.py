"""`python -m tandem.pipelines.call FILE FUNCTION`: run one stage of a Python pipeline."""

from __future__ import annotations

import runpy
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m tandem.pipelines.call FILE FUNCTION\n")
        return 2
    file, function = argv
    sys.path.insert(0, ".")
    namespace = runpy.run_path(file, run_name="__tandem_stage__")
    target = namespace.get(function)
    if not callable(target):
        sys.stderr.write(f"{file} has no function {function!r}\n")
        return 2
    target()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
