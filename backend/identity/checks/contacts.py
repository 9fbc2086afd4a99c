"""Contact data normalised for comparison across identities (kyc/contact_history.py): two spellings
of one phone, mailbox or address give one string, whose HMAC (`blind_index.contact_index`) is kept.

- phone: E.164, as the form already stores it (`KycCreate._phone` takes out spaces, dots, dashes
  and brackets).
- e-mail: lowercased whole (the domain is case-blind by RFC; providers treat the local part so too,
  and a case-only difference is no second person), a "+tag" dropped (RFC 5233 sub-addressing, which
  the large providers deliver to the base mailbox: the cheapest way to make one mailbox look like
  many), and for gmail.com (and googlemail.com, its other name) the dots in the local part too,
  which Google documents it ignores. Dots elsewhere name different people (john.smith, johns.mith).
  A false match costs a review, never a refusal.
- address: country, postcode (upper case, no spaces or dashes) and street line (Unicode-folded,
  case-folded, punctuation and spacing reduced to single spaces): the city is left out, as the
  postcode fixes it and its spelling varies (Beijing, Peking)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from backend.identity.kyc.record import PersonalData

GMAIL = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def normalise_phone(phone: str) -> str:
    return re.sub(r"[\s().-]", "", phone)


def normalise_email(email: str) -> str:
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0] or local  # "+tag@" alone is a whole local part, not a tag
    if domain in GMAIL:
        local, domain = local.replace(".", ""), GMAIL[domain]
    return f"{local}@{domain}"


def normalise_address(country: str, postal_code: str, address_line: str) -> str:
    street = unicodedata.normalize("NFKC", address_line).casefold()
    street = " ".join(re.sub(r"[^\w]+", " ", street).split())
    postcode = re.sub(r"[\s-]", "", postal_code).upper()
    return f"{country.upper()}|{postcode}|{street}"


@dataclass(frozen=True)
class Contacts:
    """One record's contact data, normalised (never stored: only its indexes are)."""

    phone: str
    email: str
    address: str


def contacts_of(person: PersonalData) -> Contacts:
    return Contacts(normalise_phone(person.phone), normalise_email(person.email),
                    normalise_address(person.country, person.postal_code, person.address_line))  # fmt: skip
