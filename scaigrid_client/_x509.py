"""What the SDK reads from a certificate itself: the DER of PEM blocks, a
certificate's SHA-256 fingerprint and its validity period.

Standard library only (no ``cryptography``): a certificate's validity is at
a fixed place in its DER (RFC 5280, 4.1), so a few lines of DER reading
find it. Whether a key belongs to its certificate, and whether PEM parses
at all, is left to Python's ``ssl`` (see `_config._check_key_pair`).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re

__all__ = ["Validity", "pem_ders", "validity"]

_PEM = re.compile(
    rb"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\s*(?P<body>[A-Za-z0-9+/=\s]*?)\s*-----END (?P=label)-----"
)
_SEQUENCE, _EXPLICIT_0, _UTC_TIME, _GENERALIZED_TIME = 0x30, 0xA0, 0x17, 0x18


def pem_ders(data: bytes, label: str = "CERTIFICATE") -> list[bytes]:
    """The DER of each PEM block labelled ``label`` in ``data``, in order.

    Raises:
        ValueError: a block's body is not base64.
    """
    ders = []
    for match in _PEM.finditer(data):
        if match.group("label").decode() != label:
            continue
        try:
            ders.append(base64.b64decode(b"".join(match.group("body").split()), validate=True))
        except (binascii.Error, ValueError):
            raise ValueError(f"a PEM {label} block is not valid base64") from None
    return ders


def _element(der: bytes, pos: int) -> tuple[int, int, int]:
    """``(tag, start, end)`` of the DER element at ``pos`` (its contents)."""
    if pos + 2 > len(der):
        raise ValueError("truncated DER")
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or pos + count > len(der):
            raise ValueError("bad DER length")
        length = int.from_bytes(der[pos : pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _time(tag: int, text: bytes) -> datetime.datetime:
    value = text.decode("ascii")
    if tag == _UTC_TIME:  # YYMMDDHHMMSSZ; RFC 5280: 50..99 are 19xx
        year = int(value[:2])
        value = f"{1900 + year if year >= 50 else 2000 + year}{value[2:]}"
    elif tag != _GENERALIZED_TIME:
        raise ValueError("not a time")
    parsed = datetime.datetime.strptime(value, "%Y%m%d%H%M%SZ")
    return parsed.replace(tzinfo=datetime.timezone.utc)


class Validity:
    """A certificate's fingerprint and validity period."""

    __slots__ = ("fingerprint", "not_after", "not_before")

    def __init__(self, der: bytes) -> None:
        """Read ``der``, one X.509 certificate.

        Raises:
            ValueError: it is not a certificate.
        """
        self.fingerprint = hashlib.sha256(der).hexdigest()
        try:
            tag, start, _ = _element(der, 0)  # Certificate
            tag2, pos, _ = _element(der, start)  # TBSCertificate
            if tag != _SEQUENCE or tag2 != _SEQUENCE:
                raise ValueError("not a SEQUENCE")
            if der[pos] == _EXPLICIT_0:  # version
                pos = _element(der, pos)[2]
            for _ in range(3):  # serialNumber, signature, issuer
                pos = _element(der, pos)[2]
            tag, pos, _ = _element(der, pos)  # validity
            if tag != _SEQUENCE:
                raise ValueError("no validity")
            before_tag, before_start, before_end = _element(der, pos)
            after_tag, after_start, after_end = _element(der, before_end)
            self.not_before = _time(before_tag, der[before_start:before_end])
            self.not_after = _time(after_tag, der[after_start:after_end])
        except (ValueError, IndexError, UnicodeDecodeError):
            raise ValueError("not an X.509 certificate") from None

    def lifetime_used(self, now: datetime.datetime) -> float:
        """The share of the validity period that has passed at ``now``."""
        total = (self.not_after - self.not_before).total_seconds()
        return 1.0 if total <= 0 else (now - self.not_before).total_seconds() / total


def validity(pem: bytes) -> Validity:
    """The first certificate of ``pem`` (a leaf before its chain).

    Raises:
        ValueError: there is no readable certificate in it.
    """
    ders = pem_ders(pem)
    if not ders:
        raise ValueError("no PEM CERTIFICATE block")
    return Validity(ders[0])
