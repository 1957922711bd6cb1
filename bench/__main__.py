"""Run the benchmarks: `python -m bench` runs all; `python -m bench ingest` runs the named ones."""

import argparse
import os
import sys
from importlib import import_module

# Modules of the benchmarks, in the order they run.
BENCHMARKS = ["bench.ingest", "bench.webhooks", "bench.propagation", "bench.dashboard"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all): "
                        + ", ".join(path.rsplit(".", 1)[1] for path in BENCHMARKS))
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from bench.db import temporary_database

    selected = [p for p in BENCHMARKS if not args.names or p.rsplit(".", 1)[1] in args.names]
    if not selected:
        parser.error(f"unknown benchmark(s): {', '.join(args.names)}")
    with temporary_database() as description:
        print(f"database: {description}")
        for path in selected:
            module = import_module(path)
            print(f"\n== {module.NAME} ==")
            for line in module.run():
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
