"""Print a development .env: DEBUG on, fresh random keys (kept, so restarts reuse them)."""

import base64
import secrets

print("# Written by `make run` for local development. See README's Configuration table.")
print("DEBUG=true")
print(f"SECRET_KEY={secrets.token_urlsafe(48)}")
print(f"CREDENTIALS_KEY={base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}")
