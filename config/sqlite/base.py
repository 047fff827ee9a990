"""Django's SQLite backend with SQLite's real bound-parameter limit.

Django assumes the pre-3.32 limit of 999 parameters, which splits a 10,000-message
bulk_create into hundreds of INSERTs; SQLite 3.32+ allows 32,766.
"""

import sqlite3

from django.db.backends.sqlite3 import base, features


class DatabaseFeatures(features.DatabaseFeatures):
    max_query_params = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
