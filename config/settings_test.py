"""Test settings: the real settings with development defaults, tasks run inline."""

import os

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("ALLOW_PRIVATE_URLS", "true")

from config.settings import *  # noqa: E402,F403
from config.settings import Q_CLUSTER  # noqa: E402

Q_CLUSTER = {**Q_CLUSTER, "sync": True}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
