"""EIP-4361 (Sign-In with Ethereum) messages: a strict parser, a builder, and signature recovery.

Why not the `siwe` package: siwe 4.4 builds its ABNF grammar at import time and abnf 2.9 refuses
that grammar (it redefines the core rule ALPHA), so `import siwe` fails with the current abnf.
This module follows the EIP's ABNF line by line instead, and verifies the signature over the
exact text the wallet showed and signed (not a re-serialisation of it).

    [scheme "://"] domain " wants you to sign in with your Ethereum account:" LF
    address LF
    LF
    [statement LF]
    LF
    "URI: " uri LF
    "Version: 1" LF
    "Chain ID: " chain-id LF
    "Nonce: " nonce LF               ; at least 8 alphanumerics
    "Issued At: " date-time
    [LF "Expiration Time: " date-time]
    [LF "Not Before: " date-time]
    [LF "Request ID: " *pchar]
    [LF "Resources:" *(LF "- " URI)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from eth_account import Account
from eth_account.messages import defunct_hash_message, encode_defunct
from eth_utils import is_checksum_address

HEADER = " wants you to sign in with your Ethereum account:"
RFC3339 = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})"
URI = r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+"

MESSAGE = re.compile(
    rf"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://)?(?P<domain>[^\s/?#]+){re.escape(HEADER)}\n"
    r"(?P<address>0x[0-9a-fA-F]{40})\n"
    r"\n"
    r"(?:(?P<statement>[^\n]+)\n)?"
    r"\n"
    rf"URI: (?P<uri>{URI})\n"
    r"Version: (?P<version>1)\n"
    r"Chain ID: (?P<chain_id>[1-9][0-9]*)\n"
    r"Nonce: (?P<nonce>[A-Za-z0-9]{8,})\n"
    rf"Issued At: (?P<issued_at>{RFC3339})"
    rf"(?:\nExpiration Time: (?P<expiration_time>{RFC3339}))?"
    rf"(?:\nNot Before: (?P<not_before>{RFC3339}))?"
    r"(?:\nRequest ID: (?P<request_id>[^\s]*))?"
    rf"(?:\nResources:(?P<resources>(?:\n- {URI})*))?"
)


class MalformedMessage(ValueError):
    pass


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    version: str = "1"
    scheme: str | None = None
    statement: str | None = None
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)

    def to_text(self) -> str:
        """The message as a wallet displays and signs it."""
        lines = [f"{self.scheme + '://' if self.scheme else ''}{self.domain}{HEADER}", self.address, ""]
        if self.statement:
            lines.append(self.statement)
        lines += [
            "",
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {_fmt(self.issued_at)}",
        ]
        if self.expiration_time:
            lines.append(f"Expiration Time: {_fmt(self.expiration_time)}")
        if self.not_before:
            lines.append(f"Not Before: {_fmt(self.not_before)}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)


def _fmt(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedMessage("a timestamp is not a valid RFC 3339 date-time") from None


def parse(text: str) -> SiweMessage:
    match = MESSAGE.fullmatch(text)
    if match is None:
        raise MalformedMessage("not an EIP-4361 message")
    parts = match.groupdict()
    if not is_checksum_address(parts["address"]):
        raise MalformedMessage("the address must be EIP-55 checksummed")
    resources = tuple(line[2:] for line in (parts["resources"] or "").split("\n") if line)
    return SiweMessage(
        domain=parts["domain"],
        address=parts["address"],
        uri=parts["uri"],
        chain_id=int(parts["chain_id"]),
        nonce=parts["nonce"],
        issued_at=_time(parts["issued_at"]),  # type: ignore[arg-type]
        version=parts["version"],
        scheme=parts["scheme"],
        statement=parts["statement"],
        expiration_time=_time(parts["expiration_time"]),
        not_before=_time(parts["not_before"]),
        request_id=parts["request_id"],
        resources=resources,
    )


def recover_signer(text: str, signature: str) -> str | None:
    """The EIP-191 (personal_sign) signer of `text`, or None when the signature is unusable."""
    raw = signature_bytes(signature)
    if raw is None or len(raw) != 65:
        return None
    try:
        return Account.recover_message(encode_defunct(text=text), signature=raw)
    except Exception:  # malformed r/s/v values raise assorted errors
        return None


def message_digest(text: str) -> bytes:
    """The EIP-191 digest a contract wallet is asked about (ERC-1271)."""
    return bytes(defunct_hash_message(text=text))


def signature_bytes(signature: str) -> bytes | None:
    """The signature as bytes (any length: contract wallets define their own format)."""
    try:
        return bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        return None
