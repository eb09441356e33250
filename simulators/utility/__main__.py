"""Drop utility reading files into an inbox: ``python -m simulators.utility --inbox DIR``.

Writes ``--days`` days (ending with the district's day, or ``--last``) for ``--households``
flats, one file per company per day with its manifest; ``--fault kind=fault`` plants a
fault in that company's file of the last day. Prints the files written as JSON.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from simulators.utility.control import UtilityDrop


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.utility", description=__doc__)
    parser.add_argument("--inbox", type=Path, required=True)
    parser.add_argument("--households", type=int, default=200)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--last", type=date.fromisoformat, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fault", action="append", default=[], help="kind=fault, last day")
    args = parser.parse_args(argv)

    drop = UtilityDrop(args.inbox, args.households, seed=args.seed)
    last = args.last or drop.as_of
    faults = dict(f.split("=", 1) for f in args.fault)
    paths = drop.write_days(last - timedelta(days=1), args.days - 1) if args.days > 1 else []
    paths += drop.write_day(last, faults=faults)
    print(json.dumps({"files": [p.name for p in paths]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
