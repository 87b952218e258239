"""Run a benchmark suite: ``python scripts/bench.py SUITE`` (JSON lines on stdout).

Each suite is a module ``scripts/bench_<suite>.py`` exposing ``run(reporter, args)``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Reporter


def available_suites() -> list[str]:
    here = Path(__file__).resolve().parent
    return sorted(p.stem.removeprefix("bench_") for p in here.glob("bench_*.py"))


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Benchmarks for AllianceLedger. Prints one JSON object per line: "
        '{"suite", "case", "metric", "value", "unit"}. Progress goes to stderr.'
    )
    parser.add_argument("suite", choices=available_suites(), help="which suite to run")
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions and smaller sizes (smoke run)"
    )
    args = parser.parse_args()
    module = importlib.import_module(f"bench_{args.suite}")
    module.run(Reporter(args.suite), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
