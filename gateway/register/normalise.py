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


def canonical_email(value: str) -> str:
    """``Sarah.W+News@GoogleMail.com`` -> ``sarahw@gmail.com``."""
    value = fold(value.strip().strip("<>"))
    local, sep, domain = value.rpartition("@")
    if not sep:
        return value
    local = local.split("+", 1)[0]
    domain = domain.rstrip(".")
    if domain in _DOTLESS_PROVIDERS:
        domain = _DOTLESS_PROVIDERS[domain]
        local = local.replace(".", "")
    return f"{local}@{domain}"


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
    plus = raw.lstrip().startswith("+")
    digits = "".join(ch for ch in raw if ch.isdigit())
    if not plus and digits.startswith("00"):
        digits, plus = digits[2:], True
    if plus or (digits.startswith("44") and len(digits) == 12):
        if digits.startswith("440") and len(digits) == 13:
            digits = "44" + digits[3:]  # +44 (0)7700 ...
        return digits if 8 <= len(digits) <= 15 else None
    if digits.startswith("0") and 10 <= len(digits) <= 11:
        return "44" + digits[1:]
    return None


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
DATE_RES = (
    # 1988-04-17
    ("ymd", re.compile(r"\b(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})\b")),
    # 17/04/1988, 17.4.88, 17-04-1988 (day first, as in the UK)
    ("dmy", re.compile(r"\b(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})\b")),
    # 17 April 1988, 17th of Apr. 1988, 17-Apr-1988
    (
        "dMy",
        re.compile(
            rf"\b(\d{{1,2}})(?:st|nd|rd|th)?[\s-]+(?:of[\s]+)?({_MONTH_ALT})\.?,?[\s-]+(\d{{4}})\b",
            re.IGNORECASE,
        ),
    ),
    # April 17, 1988 / April 17th 1988
    (
        "Mdy",
        re.compile(
            rf"\b({_MONTH_ALT})\.?[\s]+(\d{{1,2}})(?:st|nd|rd|th)?,?[\s]+(\d{{4}})\b", re.IGNORECASE
        ),
    ),
)


def _year(text: str) -> int:
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
        if form == "dMy":
            return dt.date(int(groups[2]), MONTHS[groups[1].lower()], int(groups[0]))
        return dt.date(int(groups[2]), MONTHS[groups[0].lower()], int(groups[1]))
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

_TYPES = {
    "road": ("rd",),
    "street": ("st", "str"),
    "avenue": ("ave", "av", "avn"),
    "lane": ("ln",),
    "drive": ("dr", "drv"),
    "close": ("cl",),
    "crescent": ("cres", "cresc", "cr"),
    "court": ("ct",),
    "place": ("pl",),
    "square": ("sq",),
    "gardens": ("gdns", "gdn", "gardns"),
    "terrace": ("terr", "ter", "tce"),
    "grove": ("gr", "gro", "grv"),
    "park": ("pk",),
    "way": ("wy",),
    "walk": ("wlk",),
    "mews": (),
    "row": (),
    "hill": (),
    "rise": (),
    "view": (),
    "green": ("grn",),
    "parade": ("pde",),
    "vale": (),
    "mount": ("mt",),
    "wharf": (),
    "yard": ("yd",),
    "quay": (),
    "boulevard": ("blvd",),
    "highway": ("hwy",),
    "circus": (),
    "croft": (),
    "gate": (),
    "chase": (),
    "fields": (),
    "meadow": (),
    "meadows": (),
    "brow": (),
    "approach": ("app",),
    "broadway": (),
    "embankment": (),
    "esplanade": ("esp",),
    "wynd": (),
    "path": (),
    "passage": (),
    "alley": (),
    "heights": ("hts",),
    "glade": (),
    "dale": (),
}
# Misspellings of street types seen in real letters.
_MISSPELT = {
    "raod": "road",
    "steet": "street",
    "sreet": "street",
    "stret": "street",
    "streeet": "street",
    "avenu": "avenue",
    "avnue": "avenue",
    "aveune": "avenue",
    "cresent": "crescent",
    "crescant": "crescent",
    "cresecent": "crescent",
    "clsoe": "close",
    "terace": "terrace",
    "terrance": "terrace",
    "gardnes": "gardens",
    "gardes": "gardens",
    "drvie": "drive",
    "lnae": "lane",
    "plcae": "place",
    "sqaure": "square",
}
STREET_TYPES: dict[str, str] = dict(_MISSPELT)
for _canon, _abbrevs in _TYPES.items():
    STREET_TYPES[_canon] = _canon
    for _abbrev in _abbrevs:
        STREET_TYPES[_abbrev] = _canon

FLAT_WORDS = frozenset(["flat", "apartment", "apt", "unit", "suite", "room"])
POSTCODE_RE = re.compile(r"\b([A-Za-z]{1,2}\d[A-Za-z\d]?)\s*(\d[A-Za-z]{2})\b")
HOUSE_RE = re.compile(r"\d{1,4}[a-z]?")


def canonical_postcode(outward: str, inward: str) -> str:
    return (outward + inward).upper()


@dataclass(frozen=True, slots=True)
class AddressForm:
    """An address folded into the parts a match is checked against.

    ``street`` is the street name's tokens joined without spaces (``stjohnswood``);
    ``kind`` the canonical street type (``road``); ``words`` every token of the address
    but the postcode and a trailing country, and ``line`` the first line's tokens, for
    addresses with no recognisable street line (abroad, or a house name).
    """

    house: str
    flat: str
    street: str
    kind: str
    town: tuple[str, ...]
    postcode: str
    words: tuple[str, ...]
    line: tuple[str, ...] = ()

    @property
    def has_street(self) -> bool:
        return bool(self.street and self.kind)


_CHUNK_RE = re.compile(r"[,;\n]+")


def parse_address(text: str) -> AddressForm:
    """Free-text address -> its parts; never fails (missing parts stay empty).

    The street line is the first comma- or line-separated chunk holding a street type
    after a street name; its house number is the last number before the name, and an
    earlier number (``Flat 3``, ``3/27``) is the flat.
    """
    postcode = ""
    match = POSTCODE_RE.search(text)
    if match:
        postcode = canonical_postcode(*match.groups())
        text = text[: match.start()] + " " + text[match.end() :]
    chunks = [c for c in (tokens(chunk) for chunk in _CHUNK_RE.split(text)) if c]
    # "..., Germany": a last line of one word, after two or more, is a country
    country = len(chunks) >= 3 and len(chunks[-1]) == 1 and chunks[-1][0].isalpha()
    words = tuple(w for chunk in (chunks[:-1] if country else chunks) for w in chunk)
    line = tuple(chunks[0]) if chunks else ()
    numbers: list[str] = []
    for index, chunk in enumerate(chunks):
        street = _street_of(chunk)
        if street is not None:
            name, kind, lead = street
            numbers += [w for w in lead if HOUSE_RE.fullmatch(w)]
            house = numbers[-1] if numbers else ""
            flat = numbers[-2] if len(numbers) > 1 else _flat_after(chunks[index + 1 :])
            town = tuple(
                w for c in chunks[index + 1 :] for w in c if not w.isdigit() and w not in FLAT_WORDS
            )
            return AddressForm(house, flat, name, kind, town, postcode, words, line)
        numbers += [w for w in chunk if HOUSE_RE.fullmatch(w)]
    return AddressForm("", "", "", "", (), postcode, words, line)


def _street_of(chunk: list[str]) -> tuple[str, str, list[str]] | None:
    """(street name, canonical type, words before the name) of one chunk, if any."""
    for j in range(len(chunk) - 1, 0, -1):
        kind = STREET_TYPES.get(chunk[j])
        if kind is None:
            continue
        start = j
        while (
            start > 0
            and not HOUSE_RE.fullmatch(chunk[start - 1])
            and chunk[start - 1] not in FLAT_WORDS
        ):
            start -= 1
        if start < j:
            return "".join(chunk[start:j]), kind, chunk[:start]
    return None


def _flat_after(chunks: list[list[str]]) -> str:
    for chunk in chunks:
        for i, word in enumerate(chunk[:-1]):
            if word in FLAT_WORDS and HOUSE_RE.fullmatch(chunk[i + 1]):
                return chunk[i + 1]
    return ""
