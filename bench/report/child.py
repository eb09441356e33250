"""``python -m bench.report.child MODE OUT (--call MOD:FN | --module MOD [--constant]) -- ARGS``:
one benchmark, in a process of its own.

The runner starts this so that a benchmark that crashes or hangs costs the report one row,
and so that the memory it samples is this benchmark's alone. The output goes to ``OUT``,
never to the benchmark's own results file, so a quick run cannot overwrite full figures.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.report.registry import Benchmark


def command(bench: Benchmark, mode: str, out: Path) -> list[str]:
    """The command line that runs ``bench`` in ``mode`` with its output going to ``out``."""
    cmd = [sys.executable, "-m", "bench.report.child", mode, str(out)]
    if bench.call is not None:
        return [*cmd, "--call", bench.call]
    if bench.module is None:
        raise ValueError(f"benchmark {bench.name} has neither a module nor a call")
    cmd += ["--module", bench.module]
    if bench.out == "constant":
        cmd.append("--constant")
    return [*cmd, "--", *(bench.quick if mode == "quick" else bench.full)]


def _entry_module(name: str) -> ModuleType:
    """The module whose ``main`` ``python -m name`` would run."""
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.submodule_search_locations is not None:
        name += ".__main__"
    return importlib.import_module(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report.child")
    parser.add_argument("mode", choices=("quick", "full"))
    parser.add_argument("out", type=Path)
    parser.add_argument("--call", help="module:function taking quick: bool")
    parser.add_argument("--module", help="run this module's main()")
    parser.add_argument("--constant", action="store_true", help="redirect its RESULTS constant")
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    ns = parser.parse_args(argv[:cut])
    ns.args = argv[cut + 1 :]  # the benchmark's own arguments, after --
    if ns.call:
        module_name, function = ns.call.split(":")
        result: Any = getattr(importlib.import_module(module_name), function)(ns.mode == "quick")
        ns.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", "utf-8")
        return 0
    if not ns.module:
        parser.error("one of --call or --module is needed")
    module = _entry_module(ns.module)
    args = list(ns.args)
    if ns.constant:
        module.__dict__["RESULTS"] = ns.out  # the path its main() writes to
    else:
        args += ["--out", str(ns.out)]
    sys.argv = [ns.module, *args]
    return int(module.main() or 0)


if __name__ == "__main__":
    raise SystemExit(main())
