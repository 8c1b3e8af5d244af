"""Raw register values and message text -> canonical forms both sides compare.

The same folding applies to the register and to message text, so that a match is a
plain equality on canonical strings: case, accents, apostrophes and punctuation are
dropped; street types are mapped to one spelling (``Rd`` -> ``road``); postcodes lose
their space; phones become E.164 digits; emails lose case, plus-tags and, for providers
that ignore them, dots.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass

import idna
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.syntax import validate_email_local_part
from nicknames import NickNamer

# --- text -----------------------------------------------------------------------------

TOKEN_RE = re.compile(r"[^\W_]+")


class _FoldTable(dict[int, str]):
    """str.translate table, filled on first sight of each character: one char -> one."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        base = unicodedata.normalize("NFKD", char)[:1] or char
        lowered = base.lower()
        folded = lowered if len(lowered) == 1 else char
        self[code] = folded
        return folded


_FOLD = _FoldTable({ord(q): "'" for q in "\u2019\u2018`\u00b4"})  # quote marks


def fold(text: str) -> str:
    """Lower-case and strip accents, keeping every character's offset.

    Offsets are kept so that evidence spans found in folded text point into the
    original text too.
    """
    if text.isascii():
        return text.lower()
    return text.translate(_FOLD)


_ASCII_WORDS = (
    bytes((c + 32 if 65 <= c <= 90 else c) if chr(c).isalnum() else 32 for c in range(128))
    + b" " * 128
)


def tokens(text: str) -> list[str]:
    """Folded word tokens: letters and digits, everything else separates."""
    return folded_tokens(fold(text))


def folded_tokens(folded: str) -> list[str]:
    """``tokens`` of text already folded; a byte table instead of a regex for ASCII.

    ``ß`` becomes ``ss`` inside a token (``Straße`` = ``Strasse``); tokens keep their
    number and order, so token positions still line up with ``TOKEN_RE`` matches."""
    if folded.isascii():
        return folded.encode("ascii").translate(_ASCII_WORDS).decode("ascii").split()
    found = TOKEN_RE.findall(folded)
    return [t.replace("ß", "ss") for t in found] if "ß" in folded else found


# --- emails ---------------------------------------------------------------------------

_DOTLESS_PROVIDERS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def valid_email(value: str) -> bool:
    """Syntax check only: no DNS look-up, ever.

    A plain ASCII address (no quotes, brackets or spaces) is valid when its mailbox
    name and its domain are, each checked once (a register has many addresses but few
    domains, and the domain check, IDNA rules and all, is the slow part); anything
    else goes to the validator whole."""
    local, at, domain = value.rpartition("@")
    if at and value.isascii() and not _UNUSUAL_EMAIL.search(value):
        return len(value) <= _EMAIL_MAX and _valid_local(local) and _valid_domain(domain)
    return _valid_whole(value)


_UNUSUAL_EMAIL = re.compile(r'["\[\]\\\s()<>,;:]|[^ -~]')
_EMAIL_MAX = 254  # RFC 3696 errata, as the validator has it


@functools.lru_cache(maxsize=65536)
def _valid_domain(domain: str) -> bool:
    return _valid_whole(f"postmaster@{domain}")


def _valid_local(local: str) -> bool:
    """The validator's own check of a mailbox name, with its defaults (the fuzz test
    in tests/unit/register keeps this equal to validating whole addresses)."""
    try:
        validate_email_local_part(local, allow_smtputf8=True, allow_empty_local=False)
    except EmailNotValidError:
        return False
    return True


@functools.lru_cache(maxsize=262144)  # a register is validated more than once at start
def _valid_whole(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


@functools.lru_cache(maxsize=65536)  # the same addresses come back in message after message
def canonical_email(value: str) -> str:
    """``Sarah.W+News@GoogleMail.com`` -> ``sarahw@gmail.com``."""
    value = fold(value.strip().strip("<>"))
    local, sep, domain = value.rpartition("@")
    if not sep:
        return value
    local = local.split("+", 1)[0]
    domain = domain.rstrip(".")
    if "xn--" in domain or not domain.isascii():
        domain = fold(_idna_domain(domain))
    if domain in _DOTLESS_PROVIDERS:
        domain = _DOTLESS_PROVIDERS[domain]
        local = local.replace(".", "")
    return f"{local}@{domain}"


_IDNA_DOTS = re.compile("[.\u3002\uff0e\uff61]")  # the full stops UTS 46 maps to "."


@functools.lru_cache(maxsize=4096)
def _idna_domain(domain: str) -> str:
    """``xn--`` labels and compatibility forms as the Unicode a mail client shows
    (IDNA 2008 with UTS 46 mapping); a label that is not valid IDNA stays as it is."""
    return ".".join(_idna_label(label) for label in _IDNA_DOTS.split(domain))


def _idna_label(label: str) -> str:
    try:
        return str(idna.decode(label, uts46=True))
    except (idna.IDNAError, UnicodeError, ValueError):
        return label


# --- phones ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=262144)
def phone_e164(value: str, region: str = "GB") -> str | None:
    """E.164 digits without the plus (``447700900461``), or None when not a number."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def phone_digits_key(raw: str) -> str | None:
    """Digits found in text -> E.164 digits, GB as the default region; fast, no parse."""
    digits = "".join(ch for ch in raw if ch.isdigit())
    return phone_from_digits(digits, raw.lstrip().startswith("+"))


def phone_from_digits(digits: str, plus: bool) -> str | None:
    """The digits of one written number -> E.164 digits, or None when the number plan
    has no number of that length: national (``0`` + a GB significant number of 7, 9 or
    10 digits), ``+`` or ``00`` and a country code with one of its lengths, or ``44``
    and ten digits (``+`` lost)."""
    if not plus and digits.startswith("00"):
        digits, plus = digits[2:], True
    if plus or (digits.startswith("44") and len(digits) == 12):
        if digits.startswith("440") and len(digits) == 13:
            digits = "44" + digits[3:]  # +44 (0)7700 ...
        return digits if _possible_international(digits) else None
    if digits.startswith("0") and len(digits) - 1 in _nsn_lengths(44):
        return "44" + digits[1:]
    return None


def _possible_international(digits: str) -> bool:
    """A country code (they are prefix-free) followed by a length its plan allows."""
    for size in (1, 2, 3):
        code = int(digits[:size] or 0)
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return len(digits) - size in _nsn_lengths(code)
    return False


@functools.cache
def _nsn_lengths(code: int) -> frozenset[int]:
    """Possible national significant number lengths of a country code (all its regions),
    from the phonenumbers metadata."""
    lengths: set[int] = set()
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code, ()):
        meta = (
            phonenumbers.PhoneMetadata.metadata_for_nongeo_region(code)
            if region == "001"
            else phonenumbers.PhoneMetadata.metadata_for_region(region)
        )
        if meta is not None and meta.general_desc is not None:
            lengths.update(meta.general_desc.possible_length or ())
    return frozenset(lengths) or frozenset(range(4, 14))


# --- dates ----------------------------------------------------------------------------

MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
MONTH_WORDS = frozenset(MONTHS)
_MONTH_ALT = "|".join(sorted(MONTHS, key=len, reverse=True))
# Roman month numbers, as in ``17-IV-1988`` (the order of the alternatives is the
# order a regex must try them in).
ROMAN_MONTHS = {
    r: i
    for i, r in enumerate(
        ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"], start=1
    )
}
ROMAN_ALT = "xii|xi|x|ix|viii|vii|vi|v|iv|iii|ii|i"
# A year of a written date: four digits, or two after an optional apostrophe ('88).
_YEAR = r"(\d{4}|'?\d{2})"
DATE_RES = (
    # 1988-04-17, 1988/04/17
    ("ymd", re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b")),
    # 17/04/1988, 17.4.88, 17-04-1988 (day first, as in the UK)
    ("dmy", re.compile(r"\b(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})\b")),
    # 17-IV-1988, 17.iv.88
    ("dRy", re.compile(rf"\b(\d{{1,2}})[-/.]({ROMAN_ALT})[-/.](\d{{4}}|\d{{2}})\b", re.IGNORECASE)),
    # 17 April 1988, 17th of Apr. 1988, 17-Apr-88, 17th day of April, 1988, 17 Apr '88
    (
        "dMy",
        re.compile(
            rf"\b(\d{{1,2}})(?:st|nd|rd|th)?[\s/.-]+(?:day\s+)?(?:of\s+)?({_MONTH_ALT})\.?,?"
            rf"[\s/.-]+{_YEAR}\b",
            re.IGNORECASE,
        ),
    ),
    # April 17, 1988 / April 17th 1988 / April 17th, '88
    (
        "Mdy",
        re.compile(
            rf"\b({_MONTH_ALT})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+{_YEAR}\b", re.IGNORECASE
        ),
    ),
)


def _year(text: str) -> int:
    text = text.lstrip("'")
    year = int(text)
    if len(text) == 2:
        pivot = dt.date.today().year % 100
        year += 2000 if year <= pivot else 1900
    return year


def date_from_groups(form: str, groups: tuple[str, ...]) -> dt.date | None:
    """Regex groups of one of ``DATE_RES`` -> a date, or None when impossible."""
    try:
        if form == "ymd":
            return dt.date(int(groups[0]), int(groups[1]), int(groups[2]))
        if form == "dmy":
            return dt.date(_year(groups[2]), int(groups[1]), int(groups[0]))
        if form == "dRy":
            return dt.date(_year(groups[2]), ROMAN_MONTHS[groups[1].lower()], int(groups[0]))
        if form == "dMy":
            return dt.date(_year(groups[2]), MONTHS[groups[1].lower()], int(groups[0]))
        return dt.date(_year(groups[2]), MONTHS[groups[0].lower()], int(groups[1]))
    except (ValueError, KeyError):
        return None


def parse_date(value: str) -> dt.date | None:
    """A whole string that is one date, in any form ``DATE_RES`` knows."""
    value = value.strip()
    for form, regex in DATE_RES:
        match = regex.fullmatch(value)
        if match:
            return date_from_groups(form, match.groups())
    return None


# --- names ----------------------------------------------------------------------------

TITLES = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "prof",
        "sir",
        "dame",
        "lady",
        "lord",
        "rev",
        "revd",
        "master",
        "mstr",
    ]
)


@dataclass(frozen=True, slots=True)
class NameParts:
    """A person's name folded into given names and surname tokens."""

    given: tuple[str, ...]
    surname: str

    @property
    def first(self) -> str:
        return self.given[0] if self.given else ""


def name_parts(name: str) -> NameParts | None:
    """``Sarah Jane Whitmore``, ``WHITMORE, Sarah``, ``Mrs S. Whitmore`` -> parts.

    A name with a comma is read surname first.  Hyphenated and multi-word surnames
    keep only their last token as the surname, since text tokens split on hyphens.
    """
    if "," in name:
        surname_part, _, given_part = name.partition(",")
        given = [t for t in tokens(given_part) if t not in TITLES]
        sur = [t for t in tokens(surname_part) if t not in TITLES]
        if not sur:
            return None
        return NameParts(tuple(given), sur[-1])
    words = [t for t in tokens(name) if t not in TITLES]
    if len(words) < 2:
        return NameParts((), words[0]) if words else None
    return NameParts(tuple(words[:-1]), words[-1])


@functools.cache
def _nicknamer() -> NickNamer:
    return NickNamer()  # reads its ~1 MB name list once, on first use


# Common British forms the ``nicknames`` list (American in origin) lacks; each line is
# one group of names that stand for each other.
_UK_GROUPS = [
    g.split()
    for g in (
        "eleanor elinor nell nellie ellie elle nora",
        "catherine katherine kathryn katharine kate katie kath kat cath cathy kathy",
        "gillian gill jill gilly",
        "nicola nicky nikki nic",
        "georgina georgie gina",
        "philippa pippa pip",
        "natalie nat",
        "natasha tasha tash",
        "alexandra alex lexi lexie",
        "charlotte charlie lottie",
        "oliver olly ollie",
        "harriet hattie hatty",
        "henry harry hal",
        "christopher chris kit",
        "margaret maggie meg peggy",
        "jacqueline jackie jacqui",
        "rebecca becky becca",
        "elizabeth liz lizzie beth betty libby",
        "william will bill billy liam",
        "abigail abbie abby abi",
        "samantha sam sammy",
        "stephanie steph",
        "victoria vicky vicki tori",
    )
]
_UK_FORMS = {name: frozenset(group) for group in _UK_GROUPS for name in group}


@functools.lru_cache(maxsize=65536)
def given_forms(given: str) -> frozenset[str]:
    """A given name and every common nickname or formal name it is known by."""
    namer = _nicknamer()
    forms = {given} | _UK_FORMS.get(given, frozenset())
    forms |= namer.nicknames_of(given)
    forms |= namer.canonicals_of(given)
    return frozenset(f for f in forms if len(f) > 1 and " " not in f)


# --- addresses ------------------------------------------------------------------------
# Addresses and postcodes have their own module: gateway/register/address.py.
