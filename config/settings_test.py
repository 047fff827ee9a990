"""Test settings: the real settings with development defaults, tasks run inline."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("ALLOW_PRIVATE_URLS", "true")
if "MEDIA_ROOT" not in os.environ:
    # Uploaded media in a directory of the run's own (tests/e2e's worker inherits it).
    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="test-media-")
    atexit.register(shutil.rmtree, os.environ["MEDIA_ROOT"], ignore_errors=True)

from config.settings import *  # noqa: E402,F403
from config.settings import BASE_DIR, DATABASES, Q_CLUSTER  # noqa: E402

Q_CLUSTER = {**Q_CLUSTER, "sync": True}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "config.sqlite":
    # A file, not ":memory:": tests/e2e starts a real `qcluster` process that must see the
    # rows the test commits. One file per pytest process, so two runs side by side (or two
    # checkouts' CI) never delete each other's database; Django removes it at the end.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")}
