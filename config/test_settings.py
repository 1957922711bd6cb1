"""Settings for the test suite: the real settings with the sandbox on and fast password hashing."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SANDBOX", "on")
os.environ.setdefault("SANDBOX_ORDERS", "60")
os.environ.setdefault("SECRET_KEY", "test-secret-key-for-the-haat-suite-only-0123456789abcdef")
os.environ.setdefault("SANDBOX_ROOT_URL", "http://testserver/sandbox")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
Q_CLUSTER["sync"] = True  # noqa: F405
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
HTTP_MAX_BACKOFF = 0.05
# A stopped sandbox platform is a file: each test process keeps its own, so a test never stops another's sandbox.
SANDBOX_STATE_DIR = Path(tempfile.mkdtemp(prefix="haat-sandbox-state-"))
