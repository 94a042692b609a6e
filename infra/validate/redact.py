"""Keep secrets out of everything we write: known secret values and obvious token shapes become `***`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
# Token shapes worth masking even when nobody told us the value.
_SHAPES = (
    # PEM private keys (OpenSSH, PKCS#8, RSA/EC), whole block.
    re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.DOTALL),
    # Hugging Face user and org tokens.
    re.compile(r"\bhf_[A-Za-z0-9]{10,}"),
    # RunPod API keys.
    re.compile(r"\brpa_[A-Za-z0-9]{16,}"),
)
_BEARER = re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]+")
# Lines of a multi-line secret (a PEM body) this long are specific enough to mask on their own.
_MIN_LINE = 16


class Redactor:
    """Replaces each secret value and each obvious token shape with `***`."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        values: set[str] = set()
        for secret in secrets:
            if secret is None or not secret.strip():
                continue
            values.add(secret)
            values.add(secret.strip())
            values.update(line.strip() for line in secret.splitlines() if len(line.strip()) >= _MIN_LINE)
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(values, key=len, reverse=True)
        self._values = re.compile("|".join(re.escape(value) for value in ordered)) if ordered else None

    def text(self, value: str) -> str:
        """The string with every secret and token shape masked."""
        if self._values is not None:
            value = self._values.sub(MASK, value)
        for shape in _SHAPES:
            value = shape.sub(MASK, value)
        return _BEARER.sub(lambda match: match.group(1) + MASK, value)

    def data(self, value: Any) -> Any:
        """A copy of JSON-like data (mappings, sequences, scalars) with every string, keys too, masked."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(key)): self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.data(item) for item in value]
        return value
