"""Secrets kept in the database encrypted under a key from settings
(``GRIDHUB_WEBHOOK_SECRET``): Fernet (AES-128-CBC + HMAC-SHA256, from the
maintained ``cryptography`` package) under a key derived from the setting with
HKDF-SHA256, so a stolen table or backup without the setting reveals no
webhook secret. No I/O."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SALT = b"gridhub-secretbox"
_INFO = b"webhook-secrets-v1"


class SecretBoxError(ValueError):
    """A stored secret that this key cannot open (another key, or tampered)."""


class SecretBox:
    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("the secret box needs a key (GRIDHUB_WEBHOOK_SECRET)")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(
            key.encode("utf-8")
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise SecretBoxError("cannot open a stored secret with this key") from exc
