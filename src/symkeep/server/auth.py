"""Bearer tokens for ``symkeep serve``: kept only as sha256 hashes, compared in constant time.

Token file, one per line (``#`` comments): ``NAME ROLE sha256:HEX`` with ROLE ``write`` (uploads and
reads) or ``read``. ``symkeep store add-token`` creates a random token, prints it once and appends its
hash. Tokens may also come from the environment (``SYMKEEP_TOKENS="name:token,name2:token2"``, role
write); they are hashed when loaded and the plain text is not kept.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass

from symkeep.errors import AuthError, UsageError
from symkeep.fsio import check_input_file

__all__ = ["TokenSet", "hash_token", "new_token", "token_line"]

ROLES = ("read", "write")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "sk_" + secrets.token_urlsafe(32)


def token_line(name: str, role: str, token: str) -> str:
    if role not in ROLES or not name or any(c.isspace() for c in name):
        raise UsageError(f"bad token name/role: {name!r} {role!r}")
    return f"{name} {role} sha256:{hash_token(token)}\n"


@dataclass(frozen=True)
class _Entry:
    name: str
    role: str
    digest: bytes


class TokenSet:
    def __init__(self, entries: list[_Entry] | None = None) -> None:
        self.entries = entries or []

    @staticmethod
    def load(path: str | None, env: str | None = None) -> TokenSet:
        entries: list[_Entry] = []
        if path:
            p = check_input_file(path)
            for n, line in enumerate(p.read_text().splitlines(), 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split()
                if len(parts) != 3 or parts[1] not in ROLES or not parts[2].startswith("sha256:") \
                        or len(parts[2]) != 71:
                    raise UsageError(f"{path}:{n}: expected 'NAME ROLE sha256:HEX'")
                entries.append(_Entry(parts[0], parts[1], bytes.fromhex(parts[2][7:])))
        env_val = os.environ.get("SYMKEEP_TOKENS", "") if env is None else env
        for i, item in enumerate(x for x in env_val.split(",") if x.strip()):
            name, _, tok = item.strip().rpartition(":")
            entries.append(_Entry(name or f"env{i}", "write", bytes.fromhex(hash_token(tok))))
        return TokenSet(entries)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def check(self, authorization: str | None, need: str) -> str:
        """The token's name if ``Authorization: Bearer TOKEN`` grants ``need`` ('read'/'write'); else AuthError."""
        if not authorization:
            raise AuthError("missing bearer token (Authorization: Bearer TOKEN)")
        scheme, _, tok = authorization.partition(" ")
        if scheme.lower() != "bearer" or not tok.strip():
            raise AuthError("expected Authorization: Bearer TOKEN")
        digest = bytes.fromhex(hash_token(tok.strip()))
        found: _Entry | None = None
        for e in self.entries:  # compare with every entry: time does not depend on which matched
            if hmac.compare_digest(e.digest, digest):
                found = e
        if found is None:
            raise AuthError("invalid token")
        if need == "write" and found.role != "write":
            raise AuthError(f"token {found.name!r} may not upload (role {found.role})")
        return found.name
