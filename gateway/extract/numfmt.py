"""A number and its cell's number format -> the text Excel shows (ECMA-376 18.8.30-31).

A phone kept as the number 7926171947 with the format ``00000 000000`` shows as
``07926 171947``; a date is a day count shown through ``dd/mm/yyyy``.  This covers the
common grammar: sections by sign (``pos;neg;zero;text``) and simple conditions
(``[<=9999999]``), digit placeholders ``0 # ?`` with literals between them, quoted
text, ``\\x`` escapes, ``_x`` spaces, ``*x`` fills, grouping and scaling commas,
percent, scientific notation, currency tags (``[$£-809]``), and date and time codes.
What it does not cover (fractions) gives None, and the caller keeps the raw value.
"""

from __future__ import annotations

import datetime as dt
import math
import re

# Built-in formats (18.8.30); 14 and 22 follow the system locale, here en-GB.
BUILTIN = {
    0: "General", 1: "0", 2: "0.00", 3: "#,##0", 4: "#,##0.00", 9: "0%", 10: "0.00%",
    11: "0.00E+00", 12: "# ?/?", 13: "# ??/??", 14: "dd/mm/yyyy", 15: "d-mmm-yy",
    16: "d-mmm", 17: "mmm-yy", 18: "h:mm AM/PM", 19: "h:mm:ss AM/PM", 20: "h:mm",
    21: "h:mm:ss", 22: "dd/mm/yyyy h:mm", 37: "#,##0 ;(#,##0)", 38: "#,##0 ;(#,##0)",
    39: "#,##0.00;(#,##0.00)", 40: "#,##0.00;(#,##0.00)", 45: "mm:ss", 46: "[h]:mm:ss",
    47: "mm:ss.0", 48: "##0.0E+0", 49: "@",
}  # fmt: skip
# East Asian built-in date formats (27-36, 50-58) are shown as a day-first date here.
_ASIAN_DATES = frozenset(range(27, 37)) | frozenset(range(50, 59))

_TOKEN_RE = re.compile(
    r'"(?P<quoted>[^"]*)"?|\\(?P<escaped>.)|_.|\*.|\[(?P<bracket>[^\]]*)\]'
    r"|(?P<ampm>am/pm|a/p)|(?P<general>general)|(?P<date>y+|m+|d+|h+|s+)"
    r"|(?P<expo>e[+-])|(?P<char>.)",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION_RE = re.compile(r"(<=|>=|<>|<|>|=)\s*(-?[0-9.]+)")
_MONTHS = [dt.date(2000, m, 1).strftime("%B") for m in range(1, 13)]
_DAYS = [dt.date(2000, 1, 3 + d).strftime("%A") for d in range(7)]  # Monday first


def format_code(fmt_id: int, custom: dict[int, str]) -> str:
    """The format code of a numFmtId: the workbook's own, or a built-in one."""
    if fmt_id in custom:
        return custom[fmt_id]
    if fmt_id in _ASIAN_DATES:
        return "dd/mm/yyyy"
    return BUILTIN.get(fmt_id, "General")


def format_number(value: float, code: str, date1904: bool = False) -> str | None:
    """``value`` shown through the format ``code``, or None when the code is beyond
    this formatter (the caller then shows the raw value)."""
    value = float(value)
    if not math.isfinite(value):
        return None
    section, signed = _section(value, code)
    if section is None:
        return None
    tokens = [(m.lastgroup or "", m.group()) for m in _TOKEN_RE.finditer(section)]
    if any(kind == "general" for kind, _ in tokens) or not section.strip():
        return _general(value)
    if any(kind == "date" for kind, _ in tokens):
        return _date(value, tokens, date1904)
    return _number(abs(value) if not signed else value, tokens)


def _split(code: str) -> list[str]:
    """Sections of a format code, at each ``;`` outside quotes and escapes."""
    sections: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in code:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            sections.append("".join(current))
            current = []
            continue
        current.append(char)
    sections.append("".join(current))
    return sections


def _section(value: float, code: str) -> tuple[str | None, bool]:
    """The section that shows ``value``, and whether the sign is still to be shown."""
    sections = _split(code)
    conditions = [_CONDITION_RE.search(s) if s.lstrip().startswith("[") else None for s in sections]
    if any(conditions):
        for section, cond in zip(sections, conditions, strict=False):
            if cond is None or _holds(value, cond.group(1), float(cond.group(2))):
                return section, cond is None and value < 0 and section is sections[0]
        return None, False
    if len(sections) == 1 or value > 0 or (value == 0 and len(sections) < 3):
        return sections[0], True
    if value < 0:
        return sections[1], False
    return sections[2], True


def _holds(value: float, op: str, bound: float) -> bool:
    return {
        "<": value < bound,
        ">": value > bound,
        "=": value == bound,
        "<=": value <= bound,
        ">=": value >= bound,
        "<>": value != bound,
    }[op]


def _general(value: float) -> str:
    """Excel's General: integers as they are, other numbers to 10 significant digits."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10G}"


def _literal(kind: str, text: str) -> str:
    """The shown text of a token that is not a placeholder."""
    if kind == "quoted":
        return text[1:-1] if len(text) > 1 and text.endswith('"') else text[1:]
    if kind == "escaped":
        return text[1:]
    if kind == "bracket":
        inner = text[1:-1]
        return inner[1:].partition("-")[0] if inner.startswith("$") else ""
    if text[:1] == "_":
        return " "
    if text[:1] == "*" or text == "@":
        return ""
    return text


def _number(value: float, tokens: list[tuple[str, str]]) -> str | None:
    """A number through digit placeholders and literals."""
    chars = [t for kind, t in tokens if kind == "char"]
    if "/" in chars and "?" in chars:
        return None  # fractions
    if any(kind == "expo" for kind, _ in tokens):
        return _scientific(value, tokens)
    for _ in range(chars.count("%")):
        value *= 100
    placeholders = [i for i, (k, t) in enumerate(tokens) if k == "char" and t in "0#?"]
    if not placeholders:  # a text section (``@``) shows the number as General does
        literals = "".join(_literal(k, t) for k, t in tokens)
        return literals + _general(value) if "@" in chars else literals
    point = next((i for i, (k, t) in enumerate(tokens) if k == "char" and t == "."), len(tokens))
    whole = [i for i in placeholders if i < point]
    decimals = [i for i in placeholders if i > point]
    commas = [i for i, (k, t) in enumerate(tokens) if k == "char" and t == "," and i < point]
    grouping = any(whole and whole[0] < i < whole[-1] for i in commas)
    scale = sum(1 for i in commas if whole and i > whole[-1])
    value /= 1000**scale
    text = f"{abs(value):.{len(decimals)}f}"
    int_digits, _, frac_digits = text.partition(".")
    out = _fill_whole(tokens, whole, int_digits.lstrip("0"), grouping)
    out.update(_fill_decimals(tokens, decimals, frac_digits))
    pieces = [
        out.get(i, "" if (k, t) == ("char", ",") else _literal(k, t))
        for i, (k, t) in enumerate(tokens)
    ]
    return ("-" if value < 0 and float(text) != 0 else "") + "".join(pieces)


def _fill_whole(
    tokens: list[tuple[str, str]], whole: list[int], digits: str, grouping: bool
) -> dict[int, str]:
    """Integer digits placed right to left into the placeholders; the first one takes
    whatever digits are left over."""
    if grouping:
        zeros = [n for n, i in enumerate(whole) if tokens[i][1] == "0"]
        least = len(whole) - zeros[0] if zeros else 0
        shown = digits.rjust(least, "0")
        groups = [shown[max(0, end - 3) : end] for end in range(len(shown), 0, -3)]
        return {whole[0]: ",".join(reversed(groups)), **dict.fromkeys(whole[1:], "")}
    out: dict[int, str] = {}
    remaining = digits
    for i in reversed(whole):
        if remaining:
            out[i], remaining = remaining[-1], remaining[:-1]
        else:
            out[i] = {"0": "0", "?": " "}.get(tokens[i][1], "")
    if remaining and whole:
        out[whole[0]] = remaining + out[whole[0]]
    return out


def _fill_decimals(
    tokens: list[tuple[str, str]], decimals: list[int], digits: str
) -> dict[int, str]:
    """Fraction digits left to right; trailing zeros dropped where ``#`` stands."""
    out = dict(zip(decimals, digits, strict=False))
    for i in reversed(decimals):
        if out.get(i) != "0" or tokens[i][1] == "0":
            break
        out[i] = " " if tokens[i][1] == "?" else ""
    return out


def _scientific(value: float, tokens: list[tuple[str, str]]) -> str:
    """``0.00E+00``: mantissa digits after the point and exponent width from the code."""
    at = next(i for i, (k, _) in enumerate(tokens) if k == "expo")
    decimals = sum(1 for k, t in tokens[:at] if k == "char" and t in "0#?") - 1
    width = sum(1 for k, t in tokens[at:] if k == "char" and t in "0#?")
    mantissa, _, exponent = f"{value:.{max(0, decimals)}E}".partition("E")
    sign = "-" if exponent.startswith("-") else ("+" if tokens[at][1][1] == "+" else "")
    return f"{mantissa}E{sign}{str(abs(int(exponent))).rjust(width, '0')}"


def _date(value: float, tokens: list[tuple[str, str]], date1904: bool) -> str | None:
    """A serial day number through date and time codes."""
    if not 0 <= value < 2958466:
        return None
    if date1904:
        base = dt.datetime(1904, 1, 1)
    elif value < 60:  # Excel counts a 29 February 1900 that never was
        base = dt.datetime(1899, 12, 31)
    elif value < 61:
        return None
    else:
        base = dt.datetime(1899, 12, 30)
    moment = base + dt.timedelta(days=value)
    twelve = any(kind == "ampm" for kind, _ in tokens)
    out: list[str] = []
    codes = [i for i, (k, _) in enumerate(tokens) if k == "date"]
    for i, (kind, text) in enumerate(tokens):
        if kind == "date":
            out.append(_date_code(text.lower(), moment, _is_minute(tokens, codes, i), twelve))
        elif kind == "ampm":
            mark = "AM" if moment.hour < 12 else "PM"
            out.append(mark if len(text) > 3 else mark[0])
        else:
            out.append(_literal(kind, text))
    return "".join(out)


def _is_minute(tokens: list[tuple[str, str]], codes: list[int], i: int) -> bool:
    """An ``m`` right after an hour or right before a second is minutes, not month."""
    if tokens[i][1][0].lower() != "m" or len(tokens[i][1]) > 2:
        return False
    at = codes.index(i)
    before = tokens[codes[at - 1]][1][0].lower() if at > 0 else ""
    after = tokens[codes[at + 1]][1][0].lower() if at + 1 < len(codes) else ""
    return before == "h" or after == "s"


def _date_code(code: str, moment: dt.datetime, minute: bool, twelve: bool) -> str:
    """One date or time code (``yyyy``, ``mmm``, ``dd``, ``hh``, ``ss``...)."""
    size, letter = len(code), code[0]
    if letter == "y":
        return str(moment.year) if size > 2 else f"{moment.year % 100:02d}"
    if letter == "m" and not minute:
        names = {3: _MONTHS[moment.month - 1][:3], 4: _MONTHS[moment.month - 1]}
        if size >= 5:
            return _MONTHS[moment.month - 1][0]
        return names.get(size, f"{moment.month:0{size}d}")
    if letter == "d":
        if size >= 3:
            name = _DAYS[moment.weekday()]
            return name if size > 3 else name[:3]
        return f"{moment.day:0{size}d}"
    number = {"h": moment.hour, "m": moment.minute, "s": moment.second}[letter]
    if letter == "h" and twelve:
        number = number % 12 or 12
    return f"{number:0{min(size, 2)}d}"
