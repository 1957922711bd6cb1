"""django-q2 uses the database broker by default and Redis when Q_BROKER_URL is set."""

import os
import subprocess
import sys
from pathlib import Path

import redis

from conftest import require_service

ROOT = Path(__file__).resolve().parent.parent
CODE = ("from django_q.brokers import get_broker; b = get_broker(); "
        "print(type(b).__name__, b.ping() if hasattr(b, 'ping') else '')")


def broker_in_subprocess(extra_env: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", **extra_env})
    result = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", CODE], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_database_broker_by_default():
    assert broker_in_subprocess({}).startswith("ORM")


def redis_available(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def test_redis_broker_when_configured():
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    require_service("Redis", redis_available(url), url)
    assert broker_in_subprocess({"Q_BROKER_URL": url}) == "Redis True"
