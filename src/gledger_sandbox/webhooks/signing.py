"""Standard Webhooks signatures (https://www.standardwebhooks.com): pure functions, no I/O.

A secret is ``whsec_`` and the base64 of 24 random bytes. The signed content is
``{webhook-id}.{webhook-timestamp}.{body}``; the signature is ``v1,`` and the base64 of its
HMAC-SHA256. While a rotated-out secret is in its grace period the header carries one signature
per secret, space separated, so a receiver holding either verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret stands for."""
    encoded = secret.removeprefix(PREFIX)
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as error:
        raise ValueError("not a whsec_ secret") from error


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of a message."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(signing: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: a signature per secret still signing."""
    return " ".join(sign(secret, message_id, timestamp, body) for secret in signing)
