"""Password hashing (Argon2id via argon2-cffi), session tokens, and login rate limiting."""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import defaultdict, deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

class BodyTooLarge(Exception):
    """A request body grew past the upload limit while it was being received."""


def readable_size(n_bytes: int) -> str:
    """1536 -> "1.5 KB", 10485760 -> "10 MB" (binary units, as the limits are set)."""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n_bytes >= size:
            return f"{n_bytes / size:.3g} {unit}"
    return f"{n_bytes} bytes"


_hasher = PasswordHasher()  # Argon2id with the library's current recommended parameters


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class RateLimiter:
    """At most ``limit`` attempts per ``window`` seconds per key (client address, user name)."""

    def __init__(self, limit: int = 5, window: float = 60.0):
        self.limit, self.window = limit, window
        self._attempts: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            attempts = self._attempts[key]
            while attempts and now - attempts[0] > self.window:
                attempts.popleft()
            if len(attempts) >= self.limit:
                return False
            attempts.append(now)
            return True

    def retry_after(self, key: str) -> int:
        with self._lock:
            attempts = self._attempts.get(key)
            if not attempts:
                return 0
            return max(1, int(self.window - (time.monotonic() - attempts[0])) + 1)
