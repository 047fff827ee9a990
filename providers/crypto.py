"""Provider credentials at rest: Fernet, keyed by CREDENTIALS_KEY.

CREDENTIALS_KEY may hold several keys separated by commas: the first encrypts, all decrypt,
so a key can be rotated without re-entering every credential at once.
"""

import base64
import hashlib
import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _fernet_key(value: str) -> bytes:
    try:
        if len(base64.urlsafe_b64decode(value.encode())) == 32:
            return value.encode()
    except ValueError:
        pass
    # Not a Fernet key: derive one, so any long random string works as a key.
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest())


@cache
def _fernet(keys: str) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(k.strip())) for k in keys.split(",") if k.strip()])


def encrypt_json(data: dict) -> str:
    return _fernet(settings.CREDENTIALS_KEY).encrypt(json.dumps(data).encode()).decode()


def decrypt_json(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet(settings.CREDENTIALS_KEY).decrypt(token.encode()))
    except InvalidToken as exc:
        raise ValueError("Credentials cannot be decrypted: was CREDENTIALS_KEY changed?") from exc
