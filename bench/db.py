"""A throwaway database of the configured engine for a benchmark run, migrated, dropped afterwards.

SQLite gets a file (not Django's usual in-memory test database), so the numbers are those of the
file-backed database Haat runs on; PostgreSQL gets `haat_bench_<pid>` on the configured server.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.test.utils import setup_databases, teardown_databases


@contextlib.contextmanager
def temporary_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="haat-bench-") as tmp:
        db = settings.DATABASES["default"]
        test = db.setdefault("TEST", {})
        if db["ENGINE"] == "django.db.backends.sqlite3":
            test["NAME"] = str(Path(tmp) / "bench.sqlite3")
        else:
            # Its own name: never the test suite's `test_<name>`, which a test run may be using right now.
            test["NAME"] = f"haat_bench_{os.getpid()}"
        old = setup_databases(verbosity=0, interactive=False, aliases={"default"})
        try:
            yield f"{connection.vendor} {connection.settings_dict['NAME']} (throwaway)"
        finally:
            teardown_databases(old, verbosity=0)
