"""``python -m simulators.civil_affairs``: build the district's 民政 database for the demo.

python -m simulators.civil_affairs --persons 5000 --path var/civil_affairs.db
python -m simulators.civil_affairs --persons 5000 --postgresql civil_affairs_sim
"""

from __future__ import annotations

import argparse
import time

from simulators.civil_affairs.control import CivilAffairsSimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the simulated civil-affairs database.")
    parser.add_argument("--persons", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--path", default="var/civil_affairs.db", help="the SQLite file")
    parser.add_argument("--postgresql", metavar="DBNAME", help="build in PostgreSQL instead")
    parser.add_argument(
        "--bad-encoding", type=float, default=0.0, help="share of names in the wrong encoding"
    )
    args = parser.parse_args(argv)
    if args.postgresql:
        sim = CivilAffairsSimulator.postgresql(args.postgresql, seed=args.seed)
    else:
        sim = CivilAffairsSimulator.sqlite(args.path, seed=args.seed)
    started = time.perf_counter()
    report = sim.build(persons=args.persons, bad_encoding=args.bad_encoding)
    counts = ", ".join(f"{table} {n}" for table, n in report.rows.items())
    print(f"built in {time.perf_counter() - started:.1f} s: {counts}")
    print(f"ODBC: {sim.connection_string}")


if __name__ == "__main__":
    main()
