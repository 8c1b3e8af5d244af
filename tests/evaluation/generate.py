#!/usr/bin/env python3
"""Deterministic black-box evaluation set for `gateway scan`.

Usage:  python tests/evaluation/generate.py OUTDIR [--seed N]

Writes into OUTDIR:
  register.yaml     ~200 invented cases + protected locations (contract format v1)
  manifest.jsonl    one line per message: file, mail_from, rcpt (the contract fields)
                    plus labels: expected (quarantine|deliver), form, carrier,
                    rcpt_form, case, detail (text as written), register_value
  msgs/*.eml        the messages
  COMMAND.txt       the exact scan command line (internal domain is not in the manifest)

Run the scan with:
  gateway scan --register OUTDIR/register.yaml --internal-domain council.example.gov.uk \
      --json --manifest OUTDIR/manifest.jsonl

Only stdlib + reportlab, python-docx, openpyxl (all in the project's .venv).
Everything is invented; domains are example/.example-style or obviously fictional.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import html
import io
import json
import random
import re
import shutil
import textwrap
import zipfile
from email.message import EmailMessage
from email.policy import default as DEFAULT_POLICY
from pathlib import Path

INTERNAL = "council.example.gov.uk"
MAIL_FROM = f"housing.options@{INTERNAL}"
HAM_DIR = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "ham"

# --------------------------------------------------------------------------- pools

NICKS = {
    "Elizabeth": ["Liz", "Beth", "Lizzie"],
    "Katherine": ["Kate", "Katie"],
    "Margaret": ["Maggie", "Peggy"],
    "Rebecca": ["Becky", "Becca"],
    "Jennifer": ["Jenny", "Jen"],
    "Victoria": ["Vicky", "Tori"],
    "Samantha": ["Sam", "Sammy"],
    "Alexandra": ["Alex", "Lexi"],
    "Jessica": ["Jess"],
    "Deborah": ["Debbie", "Deb"],
    "Susan": ["Sue", "Susie"],
    "Patricia": ["Trish", "Pat"],
    "Amanda": ["Mandy"],
    "Christine": ["Chrissie"],
    "Catherine": ["Cathy", "Kate"],
    "Nicola": ["Nicky"],
    "Stephanie": ["Steph"],
    "Gillian": ["Gill"],
    "Josephine": ["Jo", "Josie"],
    "Jacqueline": ["Jackie"],
    "Kimberley": ["Kim"],
    "Abigail": ["Abby"],
    "Charlotte": ["Lottie"],
    "Eleanor": ["Ellie", "Nell"],
    "Sarah": ["Sally"],
    "Natalie": ["Nat"],
    "Danielle": ["Dani"],
    "Frances": ["Fran"],
    "Louise": ["Lou"],
    "Penelope": ["Penny"],
    "Theresa": ["Tess"],
    "Joanne": ["Jo"],
    "Daniel": ["Dan", "Danny"],
    "Robert": ["Rob", "Bob"],
    "William": ["Will", "Bill"],
    "Michael": ["Mike"],
    "Anthony": ["Tony"],
    "Thomas": ["Tom"],
    "Jonathan": ["Jon"],
}
ADULT_F_PLAIN = [
    "Aisha",
    "Priya",
    "Chloe",
    "Megan",
    "Zoe",
    "Hannah",
    "Laura",
    "Emma",
    "Gemma",
    "Leanne",
    "Kirsty",
    "Shannon",
    "Fatima",
    "Agnieszka",
    "Roxanne",
    "Siobhan",
    "Nadia",
    "Yasmin",
    "Bethany",
]
MIDDLE = [
    "Jane",
    "Louise",
    "Marie",
    "Anne",
    "Elizabeth",
    "Rose",
    "May",
    "Grace",
    "Claire",
    "Nicole",
]
CHILD = [
    "Oliver",
    "Amelia",
    "Isla",
    "Noah",
    "Leo",
    "Freya",
    "Harry",
    "Poppy",
    "Alfie",
    "Evie",
    "Jacob",
    "Ruby",
    "Archie",
    "Maisie",
    "Theo",
    "Lily",
    "Oscar",
    "Ava",
    "Mia",
    "Finley",
    "Rosie",
    "Arthur",
    "Imogen",
    "Reuben",
    "Phoebe",
    "Hugo",
    "Esme",
    "Toby",
    "Ivy",
    "Felix",
]
RESTRICTED_M = [
    "Mark",
    "Gary",
    "Darren",
    "Lee",
    "Wayne",
    "Craig",
    "Jason",
    "Dean",
    "Shaun",
    "Carl",
    "Stuart",
    "Kevin",
    "Neil",
    "Ryan",
    "Scott",
    "Liam",
    "Dale",
    "Kyle",
    "Ross",
    "Barry",
    "Glen",
    "Paul",
    "Trevor",
    "Keith",
    "Gavin",
    "Brett",
    "Howard",
    "Ian",
]
RESTRICTED_F = ["Tracey", "Donna", "Karen", "Lisa", "Wendy"]
RESTRICTED_NICK = {
    "Gary": "Gaz",
    "Darren": "Daz",
    "Barry": "Baz",
    "Wayne": "Wayno",
    "Kevin": "Kev",
    "Stuart": "Stu",
    "Shaun": "Shaunie",
    "Trevor": "Trev",
    "Mark": "Marky",
}

SUR_PRE = [
    "Ash",
    "Black",
    "Brad",
    "Brook",
    "Cart",
    "Clay",
    "Cross",
    "Dal",
    "Dun",
    "East",
    "Fair",
    "Fern",
    "Gold",
    "Green",
    "Hart",
    "Hay",
    "Holl",
    "Kings",
    "Lang",
    "Lock",
    "Marsh",
    "Moor",
    "Nether",
    "North",
    "Pem",
    "Rad",
    "Red",
    "Ship",
    "South",
    "Stan",
    "Stock",
    "Thorn",
    "Under",
    "Wain",
    "West",
    "Whit",
    "Wild",
    "Win",
    "Chad",
    "Ather",
    "Bram",
    "Hather",
    "Elling",
    "Pick",
    "Ack",
    "Bair",
    "Gled",
    "Hol",
    "Ibbot",
    "Kersh",
    "Mars",
    "Orm",
    "Rams",
    "Suth",
    "Thack",
    "Yar",
]
SUR_SUF = [
    "worth",
    "ley",
    "ton",
    "field",
    "ford",
    "wood",
    "more",
    "well",
    "combe",
    "hurst",
    "bury",
    "dale",
    "shaw",
    "stone",
    "wick",
    "ham",
    "land",
    "croft",
    "brook",
    "royd",
    "sall",
    "gill",
]
NOISE_SURNAMES = [
    "Smith",
    "Jones",
    "Patel",
    "Khan",
    "Taylor",
    "Brown",
    "Wilson",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Wright",
    "Robinson",
    "Thompson",
    "Hughes",
    "Edwards",
    "Hall",
    "Harris",
    "Lewis",
    "Martin",
    "Jackson",
    "Clarke",
    "Turner",
    "Hill",
    "Scott",
    "Cooper",
    "Morris",
    "Ward",
    "King",
    "Watson",
    "Baker",
    "Morgan",
    "Young",
    "Allen",
    "Mitchell",
    "Anderson",
    "Phillips",
    "Bell",
    "Parker",
    "Davis",
    "Nguyen",
    "Kowalski",
    "Okafor",
    "Mensah",
    "Begum",
    "Hussain",
    "Rahman",
    "Murphy",
    "O'Brien",
    "MacLeod",
]
NOISE_FIRST = [
    "Priti",
    "Tom",
    "Gareth",
    "Helen",
    "Omar",
    "Rachel",
    "Sunita",
    "Colin",
    "Fiona",
    "Adebayo",
    "Marek",
    "Julie",
    "Graham",
    "Ruth",
    "Imran",
    "Alison",
    "Bernard",
    "Denise",
    "Tariq",
    "Maureen",
]

ST_A = [
    "Ash",
    "Beech",
    "Birch",
    "Elm",
    "Oak",
    "Holly",
    "Hazel",
    "Rowan",
    "Willow",
    "Alder",
    "Cedar",
    "Maple",
    "Pine",
    "Yew",
    "Larch",
    "Lime",
    "Poplar",
    "Thorn",
    "Heather",
    "Bracken",
    "Fern",
    "Clover",
    "Primrose",
    "Bramble",
    "Mill",
    "Church",
    "Station",
    "Bridge",
    "Castle",
    "Abbey",
    "Manor",
    "Grange",
    "Priory",
    "Chapel",
    "Vicarage",
    "Meadow",
    "Orchard",
    "Spring",
    "Fox",
    "Badger",
    "Heron",
    "Swan",
    "Lark",
    "Wren",
    "Falcon",
    "Kestrel",
    "Raven",
    "Robin",
    "Finch",
    "Linnet",
    "Plover",
    "Curlew",
    "Hawk",
]
ST_B = [
    "field",
    "wood",
    "dale",
    "lea",
    "mead",
    "croft",
    "bank",
    "side",
    "hill",
    "gate",
    "stone",
    "ford",
    "well",
    "brook",
    "hurst",
    "moor",
]
ST_SINGLE = [
    "Kingfisher",
    "Larkspur",
    "Foxglove",
    "Juniper",
    "Sycamore",
    "Magnolia",
    "Bluebell",
    "Meadowsweet",
    "Cowslip",
    "Thistle",
    "Nightingale",
    "Blackthorn",
    "Cavendish",
    "Granville",
    "Tennyson",
    "Wordsworth",
    "Gainsborough",
    "Ravensworth",
    "Beaumont",
    "Montague",
    "Lancaster",
    "Harcourt",
    "Pemberton",
    "Belgrave",
    "Stratford",
    "Kensington",
    "Hollingwood",
    "Sandringham",
]
ABBR = {
    "Road": "Rd",
    "Street": "St",
    "Avenue": "Ave",
    "Lane": "Ln",
    "Drive": "Dr",
    "Close": "Cl",
    "Crescent": "Cres",
    "Court": "Ct",
    "Place": "Pl",
    "Square": "Sq",
    "Gardens": "Gdns",
    "Terrace": "Terr",
    "Grove": "Gro",
}
TYPES = list(ABBR) + ["Way", "Walk", "Mews", "Rise", "View"]
TOWNS = [
    (
        "Leeds",
        ["LS6", "LS8", "LS11", "LS12", "LS9"],
        ["Headingley", "Harehills", "Beeston", "Armley"],
    ),
    ("Sheffield", ["S6", "S10", "S8", "S2"], ["Hillsborough", "Crookes", "Heeley"]),
    ("Manchester", ["M14", "M13", "M20", "M19"], ["Fallowfield", "Longsight", "Didsbury"]),
    ("Bristol", ["BS5", "BS3", "BS7"], ["Easton", "Bedminster", "Horfield"]),
    ("Birmingham", ["B13", "B29", "B11"], ["Moseley", "Selly Oak", "Sparkhill"]),
    ("Nottingham", ["NG7", "NG3", "NG5"], ["Lenton", "Sneinton", "Sherwood"]),
    ("Leicester", ["LE2", "LE3", "LE5"], ["Clarendon Park", "Westcotes"]),
    ("Cardiff", ["CF24", "CF11", "CF14"], ["Roath", "Canton"]),
    ("Newcastle upon Tyne", ["NE6", "NE4", "NE2"], ["Heaton", "Fenham", "Jesmond"]),
    ("Liverpool", ["L15", "L8", "L17"], ["Wavertree", "Toxteth", "Aigburth"]),
    ("York", ["YO10", "YO31", "YO24"], ["Fulford", "Heworth"]),
    ("Bradford", ["BD7", "BD3", "BD9"], ["Great Horton", "Manningham"]),
    ("Hull", ["HU5", "HU3", "HU8"], ["Newland"]),
    ("Derby", ["DE22", "DE23"], ["Normanton"]),
    ("Coventry", ["CV2", "CV5"], ["Earlsdon"]),
    ("Reading", ["RG1", "RG2", "RG30"], ["Caversham"]),
    ("Norwich", ["NR2", "NR3"], ["Eaton"]),
    ("Brighton", ["BN2", "BN1"], ["Kemptown", "Hove"]),
    ("Plymouth", ["PL4", "PL2"], ["Mutley"]),
    ("Glasgow", ["G12", "G31", "G42"], ["Dennistoun"]),
    ("Edinburgh", ["EH7", "EH11", "EH6"], ["Leith", "Gorgie"]),
    ("London", ["SE15", "E8", "N16", "SW9", "E17", "NW10"], ["Peckham", "Hackney", "Walthamstow"]),
]
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
ABROAD = [
    ["Calle de Alcalá 123, 3º B", "28009 Madrid", "Spain"],
    ["45 Rue des Lilas", "69003 Lyon", "France"],
    ["Hauptstraße 12", "10115 Berlin", "Germany"],
    ["Via Garibaldi 48", "16124 Genova", "Italy"],
    ["Ulica Długa 17/4", "80-827 Gdańsk", "Poland"],
    ["Keizersgracht 221", "1016 DV Amsterdam", "Netherlands"],
    ["Strada Republicii 9", "400015 Cluj-Napoca", "Romania"],
    ["14 Lower Baggot Street", "Dublin 2, D02 XK38", "Ireland"],
]
REFUGES = [
    ("refuge-north", "Refuge (north)", "12 Tannery Street, Sheffield, S1 2TQ"),
    ("refuge-west", "Refuge (west)", "88 Ferrier Road, Bristol, BS2 9LR"),
    ("refuge-city", "Refuge (city)", "5 Colbourne Terrace, Leeds, LS7 4HW"),
    ("refuge-coast", "Refuge (coast)", "31 Marrick Avenue, Brighton, BN2 6QJ"),
    ("refuge-east", "Safe house (east)", "Flat 2, 140 Gorsedene Lane, Norwich, NR3 2EW"),
    ("refuge-mid", "Refuge (midlands)", "7 Quenby Gardens, Leicester, LE2 8DS"),
]
MOBILE_PRE = [
    "0770",
    "0771",
    "0772",
    "0773",
    "0774",
    "0775",
    "0776",
    "0777",
    "0778",
    "0779",
    "0780",
    "0781",
    "0782",
    "0783",
    "0784",
    "0786",
    "0787",
    "0788",
    "0789",
    "0790",
    "0791",
    "0792",
    "0793",
    "0794",
    "0795",
    "0796",
    "0797",
    "0798",
    "0799",
    "0745",
    "0746",
    "0747",
    "0754",
]
LANDLINE = [
    ("0113", 3, "2"),
    ("0114", 3, "2"),
    ("0161", 3, "4"),
    ("020", 4, "7"),
    ("0121", 3, "4"),
    ("0117", 3, "9"),
    ("0115", 3, "9"),
    ("0131", 3, "5"),
    ("0141", 3, "3"),
    ("01904", 6, "6"),
    ("01274", 6, "5"),
    ("0191", 3, "2"),
]
EXT_RCPTS = [
    "lettings@northgate-lettings.example.co.uk",
    "accounts@yorkshire-water.example.com",
    "admissions@st-marys-primary.example.sch.uk",
    "reception@parkside-surgery.example.nhs.uk",
    "enquiries@dwp-benefits.example.org",
    "new.connections@brightpower.example.com",
    "tenancy@riverside-ha.example.org.uk",
    "info@removals-r-us.example.co.uk",
    "j.harper@gmail.example.com",
    "office@pennine-estates.example.co.uk",
    "claims@ukhomeinsure.example.com",
    "support@broadband-direct.example.net",
    "court.admin@familycourt.example.org",
    "records@citygp.example.nhs.uk",
]
EXT_LOOKALIKE = [
    "housing@notcouncil.example.gov.uk",
    "officer@council.example.gov.uk.mailrelay.example",
    "team@council-example.gov.uk",
    "benefits@counci1.example.gov.uk",
]
ORG_SIGS = [
    ("Housing Options Team", "Civic Hall, 1 Portland Crossing, Leeds, LS1 1UR", "0300 123 4410"),
    ("Tenancy Services", "Merrion House, 110 Quarrydene Street, Leeds, LS2 8BB", "0300 123 5520"),
    ("Family Support Service", "The Depot, 4 Ellerbeck Yard, Leeds, LS10 1QN", "0300 123 7730"),
]


def lev(a: str, b: str) -> int:
    a, b = a.lower(), b.lower()
    if abs(len(a) - len(b)) > 3:
        return 4
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def dl1(a: str, b: str) -> bool:
    """True if within one edit incl. adjacent swap."""
    if lev(a, b) <= 1:
        return True
    if len(a) == len(b):
        d = [i for i in range(len(a)) if a[i].lower() != b[i].lower()]
        return len(d) == 2 and d[1] == d[0] + 1 and a[d[0]] == b[d[1]] and a[d[1]] == b[d[0]]
    return False


def pick_distinct(rng, candidates, n, min_dist, against=()):
    out: list[str] = []
    cand = list(candidates)
    rng.shuffle(cand)
    for c in cand:
        if all(lev(c, o) >= min_dist for o in out) and all(lev(c, o) >= min_dist for o in against):
            out.append(c)
            if len(out) == n:
                break
    return out


def typo(rng, word: str) -> str:
    w = list(word)
    kind = rng.choice(["sub", "ins", "del", "swap"])
    i = rng.randrange(2, len(w) - 1)  # keep the first letters
    if kind == "sub":
        w[i] = rng.choice([c for c in "aeiourstln" if c != w[i].lower()])
    elif kind == "ins":
        w.insert(i, w[i])  # doubled letter: the most common typo
    elif kind == "del":
        del w[i]
    elif w[i] == w[i + 1] if i + 1 < len(w) else True:
        w[i] = rng.choice([c for c in "aeiou" if c != w[i].lower()])
    else:
        w[i], w[i + 1] = w[i + 1], w[i]
    return "".join(w)


def far_variant(rng, word: str) -> str:
    """A variant >= 2 edits away (two substitutions at distinct positions)."""
    for _ in range(50):
        w = list(word)
        pos = rng.sample(range(1, len(w)), 2)
        for p in pos:
            w[p] = rng.choice([c for c in "aeiourstlnmk" if c != w[p].lower()])
        v = "".join(w)
        if lev(v, word) >= 2 and not dl1(v, word):
            return v
    return word + "son"


# --------------------------------------------------------------------------- register


class Reg:
    pass


def make_postcode(rng, outward):
    return f"{outward} {rng.randint(1, 9)}{rng.choice(INWARD_LETTERS)}{rng.choice(INWARD_LETTERS)}"


def mobile(rng):
    return rng.choice(MOBILE_PRE) + "".join(str(rng.randint(0, 9)) for _ in range(7))


def landline(rng):
    code, _, first = rng.choice(LANDLINE)
    digits = code + first
    while len(digits) < 11:
        digits += str(rng.randint(0, 9))
    return digits


def fmt_national(d: str) -> str:
    if d.startswith("07"):
        return f"{d[:5]} {d[5:]}"
    if d.startswith("020"):
        return f"{d[:3]} {d[3:7]} {d[7:]}"
    if d[:4] in ("0113", "0114", "0161", "0121", "0117", "0115", "0131", "0141", "0191", "0300"):
        return f"{d[:4]} {d[4:7]} {d[7:]}"
    return f"{d[:5]} {d[5:]}"


def build_register(rng):
    surnames_all = sorted({p + s for p in SUR_PRE for s in SUR_SUF if len(p + s) >= 6})
    surnames = pick_distinct(rng, surnames_all, 600, 3, against=NOISE_SURNAMES)
    streets_all = sorted({a + b for a in ST_A for b in ST_B} | set(ST_SINGLE))
    streets = pick_distinct(rng, streets_all, 300, 3)
    reg_streets, noise_streets = streets[:240], streets[240:]
    # noise streets must be far from register streets
    noise_streets = [s for s in noise_streets if all(lev(s, r) >= 3 for r in reg_streets)]
    used_pc: set[str] = set()
    used_phone: set[str] = set()
    sn = iter(surnames)
    st = iter(reg_streets)

    def new_pc(outward):
        while True:
            pc = make_postcode(rng, outward)
            if pc not in used_pc:
                used_pc.add(pc)
                return pc

    def new_phone(kind="m"):
        while True:
            p = mobile(rng) if kind == "m" else landline(rng)
            if p not in used_phone:
                used_phone.add(p)
                return p

    def new_address(abroad_idx=None):
        if abroad_idx is not None:
            parts = ABROAD[abroad_idx]
            return {"kind": "abroad", "parts": list(parts), "text": ", ".join(parts)}
        town, outs, districts = rng.choice(TOWNS)
        street = next(st)
        stype = rng.choice(TYPES) if rng.random() < 0.25 else rng.choice(list(ABBR))
        num = rng.randint(1, 180)
        flat = rng.randint(1, 24) if rng.random() < 0.4 else None
        district = rng.choice(districts) if rng.random() < 0.25 else None
        pc = new_pc(rng.choice(outs))
        stored_abbrev = stype in ABBR and rng.random() < 0.15
        a = {
            "kind": "uk",
            "town": town,
            "street": street,
            "stype": stype,
            "num": num,
            "flat": flat,
            "district": district,
            "postcode": pc,
            "stored_abbrev": stored_abbrev,
        }
        a["text"] = ", ".join(addr_parts(a, abbrev=stored_abbrev))
        return a

    cases = []
    abroad_cases = set(rng.sample(range(200), len(ABROAD)))
    abroad_iter = iter(range(len(ABROAD)))
    for ci in range(200):
        cid = (
            f"{rng.choice(['DA', 'DA', 'DA', 'CL', 'ADP'])}-{rng.choice([2024, 2025])}-{ci + 1:04d}"
        )
        surname = next(sn)
        prot = []
        female = rng.random() < 0.85
        if female:
            first = rng.choice(
                list(
                    k
                    for k in NICKS
                    if k
                    not in (
                        "Daniel",
                        "Robert",
                        "William",
                        "Michael",
                        "Anthony",
                        "Thomas",
                        "Jonathan",
                    )
                )
                * 2
                + ADULT_F_PLAIN
            )
        else:
            first = rng.choice(
                ["Daniel", "Robert", "William", "Michael", "Anthony", "Thomas", "Jonathan"]
            )
        middle = rng.choice(MIDDLE) if (female and rng.random() < 0.35) else None
        adult = {
            "first": first,
            "middle": middle,
            "surname": surname,
            "aliases": [],
            "dob": dt.date(rng.randint(1965, 2002), rng.randint(1, 12), rng.randint(1, 28)),
            "addresses": [],
            "phones": [],
            "emails": [],
            "child": False,
        }
        if rng.random() < 0.5:
            adult["aliases"].append((first, next(sn)))
        if ci in abroad_cases:
            adult["addresses"].append(new_address(next(abroad_iter)))
        else:
            adult["addresses"].append(new_address())
        if rng.random() < 0.15:
            adult["addresses"].append(new_address())
        adult["phones"].append(new_phone("m"))
        if rng.random() < 0.35:
            adult["phones"].append(new_phone("l"))
        loc = rng.choice(
            ["example.net", "example.org", "mail.example.com", "gmail.com", "outlook.example.com"]
        )
        style = rng.choice(["{f}.{s}", "{f}{s}{n}", "{fi}.{s}.safe", "{f}.{fi2}.{s}", "{f}_{n}"])
        local = style.format(
            f=first.lower(),
            s=surname.lower(),
            n=rng.randint(10, 99),
            fi=first[0].lower(),
            fi2=chr(97 + rng.randrange(26)),
        )
        adult["emails"].append(f"{local}@{loc}")
        prot.append(adult)
        for _ in range(rng.choice([0, 1, 1, 2, 2, 3])):
            cf = rng.choice([c for c in CHILD if c not in [p["first"] for p in prot]])
            prot.append(
                {
                    "first": cf,
                    "middle": None,
                    "surname": surname if rng.random() < 0.9 else next(sn),
                    "aliases": [],
                    "dob": dt.date(rng.randint(2008, 2023), rng.randint(1, 12), rng.randint(1, 28)),
                    "addresses": [],
                    "phones": [],
                    "emails": [],
                    "child": True,
                }
            )
        # restricted contacts
        initials = {p["first"][0] for p in prot} | {a[0][0] for p in prot for a in p["aliases"]}
        restricted = []
        for ri in range(1 if rng.random() < 0.8 else 2):
            pool = RESTRICTED_M if rng.random() < 0.9 else RESTRICTED_F
            okn = [
                n
                for n in pool
                if n[0] not in initials and n not in [r["first"] for r in restricted]
            ]
            rf = rng.choice(okn or [n for n in RESTRICTED_M if n[0] not in initials])
            rs = surname if (ri == 0 and rng.random() < 0.6) else next(sn)
            r = {"first": rf, "surname": rs, "aliases": [], "emails": [], "phones": []}
            if rf in RESTRICTED_NICK and rng.random() < 0.4:
                r["aliases"].append(f"{RESTRICTED_NICK[rf]} {rs}")
            dom = rng.choice(
                [
                    "example.com",
                    "example.org",
                    "gmail.com",
                    "hotmail.example.co.uk",
                    "mail.example.net",
                ]
            )
            lstyle = rng.choice(["{f}.{s}", "{f}{s}", "{fi}{s}{n}", "{f}_{s}{n}"])
            r["emails"].append(
                lstyle.format(f=rf.lower(), s=rs.lower(), fi=rf[0].lower(), n=rng.randint(60, 99))
                + "@"
                + dom
            )
            if rng.random() < 0.3:
                r["emails"].append(f"{rf.lower()}{rng.randint(1960, 1995)}@example.org")
            if rng.random() < 0.5:
                r["phones"].append(new_phone("m"))
            restricted.append(r)
        sol = rng.choice(
            ["okafor-law", "harrow-legal", "brightside-solicitors", "idva-service", "northern-law"]
        )
        allowed = [
            f"caseworker{ci + 1}@{INTERNAL}",
            f"{rng.choice(['a', 'j', 'm', 'r'])}.{rng.choice(['okafor', 'hale', 'brennan', 'sato'])}{ci + 1}@{sol}.example.co.uk",
        ]
        cases.append({"id": cid, "protected": prot, "restricted": restricted, "allowed": allowed})
    # make ids unique
    seen = set()
    for c in cases:
        while c["id"] in seen:
            c["id"] += "A"
        seen.add(c["id"])
    R = Reg()
    R.cases, R.noise_streets, R.used_pc, R.used_phone = cases, noise_streets, used_pc, used_phone
    R.surnames = (
        {p["surname"] for c in cases for p in c["protected"]}
        | {a[1] for c in cases for p in c["protected"] for a in p["aliases"]}
        | {r["surname"] for c in cases for r in c["restricted"]}
    )
    return R


def full_name(p, middle=True):
    return " ".join(x for x in [p["first"], p["middle"] if middle else None, p["surname"]] if x)


def phone_register_fmt(rng, d):
    return rng.choice([fmt_national(d)] * 3 + [d, "+44 " + fmt_national(d)[1:]])


def write_register(R, rng, path: Path):
    lines = [
        "# Generated by tests/evaluation/generate.py; every detail is invented.",
        "version: 1",
        "cases:",
    ]

    def q(s):
        return json.dumps(s, ensure_ascii=False)

    for c in R.cases:
        lines.append(f"  - id: {c['id']}")
        lines.append("    protected:")
        for p in c["protected"]:
            lines.append(f"      - name: {q(full_name(p))}")
            if p["aliases"]:
                lines.append(
                    f"        aliases: [{', '.join(q(a[0] + ' ' + a[1]) for a in p['aliases'])}]"
                )
            dob = p["dob"].isoformat() if rng.random() < 0.7 else p["dob"].strftime("%d/%m/%Y")
            lines.append(f"        date_of_birth: {q(dob)}")
            if p["addresses"]:
                lines.append(
                    f"        addresses: [{', '.join(q(a['text']) for a in p['addresses'])}]"
                )
            if p["phones"]:
                p["phones_reg"] = [phone_register_fmt(rng, d) for d in p["phones"]]
                lines.append(f"        phones: [{', '.join(q(x) for x in p['phones_reg'])}]")
            if p["emails"]:
                lines.append(f"        emails: [{', '.join(q(e) for e in p['emails'])}]")
        lines.append("    restricted:")
        for r in c["restricted"]:
            lines.append(f"      - name: {q(r['first'] + ' ' + r['surname'])}")
            if r["aliases"]:
                lines.append(f"        aliases: [{', '.join(q(a) for a in r['aliases'])}]")
            lines.append(f"        emails: [{', '.join(q(e) for e in r['emails'])}]")
            if r["phones"]:
                lines.append(
                    f"        phones: [{', '.join(q(fmt_national(x)) for x in r['phones'])}]"
                )
        lines.append(f"    allowed_recipients: [{', '.join(c['allowed'])}]")
    lines.append("protected_locations:")
    for lid, label, addr in REFUGES:
        lines.append(f"  - id: {lid}")
        lines.append(f"    label: {q(label)}")
        lines.append(f"    address: {q(addr)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- detail forms


def addr_parts(
    a,
    abbrev=False,
    flat_style="lead",
    with_postcode=True,
    with_town=True,
    with_district=True,
    street_typo=None,
    drop_type=False,
    pc_nospace=False,
    flat=True,
    comma_num=False,
):
    stype = ABBR.get(a["stype"], a["stype"]) if abbrev else a["stype"]
    street = street_typo or a["street"]
    sline = f"{a['num']}{',' if comma_num else ''} {street}" + ("" if drop_type else f" {stype}")
    parts = []
    if a["flat"] and flat:
        if flat_style == "lead":
            parts.append(f"Flat {a['flat']}")
        elif flat_style == "apt":
            parts.append(f"Apartment {a['flat']}")
        elif flat_style == "slash":
            sline = f"{a['flat']}/{sline}"
        elif flat_style == "bare":
            sline = f"{a['flat']} {sline}"
    parts.append(sline)
    if a["flat"] and flat and flat_style == "after":
        parts.append(f"Flat {a['flat']}")
    if a["district"] and with_district:
        parts.append(a["district"])
    if with_town:
        parts.append(a["town"])
    if with_postcode:
        parts.append(a["postcode"].replace(" ", "") if pc_nospace else a["postcode"])
    return parts


def D(parts, sep=", ", block=False, value=""):
    return {"parts": parts, "sep": sep, "block": block, "value": value}


ADDRESS_FORMS = {
    "address/full": lambda rng, a: D([a["text"]]),
    "address/multiline": lambda rng, a: D(addr_parts(a, abbrev=a["stored_abbrev"]), block=True),
    "address/abbrev": lambda rng, a: D(addr_parts(a, abbrev=True)),
    "address/expanded": lambda rng, a: D(addr_parts(a, abbrev=False)),
    "address/no-postcode": lambda rng, a: D(addr_parts(a, with_postcode=False)),
    "address/street-only": lambda rng, a: D(
        addr_parts(a, with_postcode=False, with_town=False, with_district=False)
    ),
    "address/no-town": lambda rng, a: D(addr_parts(a, with_town=False, with_district=False)),
    "address/upper": lambda rng, a: D([p.upper() for p in addr_parts(a)]),
    "address/lower-nopunct": lambda rng, a: D([p.lower() for p in addr_parts(a)], sep=" "),
    "address/flat-slash": lambda rng, a: D(addr_parts(a, flat_style="slash")),
    "address/flat-after": lambda rng, a: D(addr_parts(a, flat_style="after")),
    "address/flat-bare": lambda rng, a: D(addr_parts(a, flat_style="bare", abbrev=True)),
    "address/apartment": lambda rng, a: D(addr_parts(a, flat_style="apt")),
    "address/no-flat": lambda rng, a: D(addr_parts(a, flat=False)),
    "address/typo": lambda rng, a: D(addr_parts(a, street_typo=typo(rng, a["street"]))),
    "address/typo-no-postcode": lambda rng, a: D(
        addr_parts(a, street_typo=typo(rng, a["street"]), with_postcode=False)
    ),
    "address/no-type+postcode": lambda rng, a: D(addr_parts(a, drop_type=True)),
    "address/postcode-nospace": lambda rng, a: D(addr_parts(a, pc_nospace=True), sep=" "),
    "address/number-comma": lambda rng, a: D(addr_parts(a, comma_num=True)),
    "address/no-district": lambda rng, a: D(addr_parts(a, with_district=False)),
}
ABROAD_FORMS = {
    "address/abroad-full": lambda rng, a: D([a["text"]]),
    "address/abroad-multiline": lambda rng, a: D(a["parts"], block=True),
    "address/abroad-no-country": lambda rng, a: D(a["parts"][:-1]),
}


def addr_form_ok(form, a):
    if a["kind"] != "uk":
        return False
    if form in ("address/abbrev", "address/flat-bare") and a["stype"] not in ABBR:
        return False
    if form == "address/expanded" and not a["stored_abbrev"]:
        return False
    if (
        form
        in (
            "address/flat-slash",
            "address/flat-after",
            "address/flat-bare",
            "address/apartment",
            "address/no-flat",
        )
        and not a["flat"]
    ):
        return False
    if form == "address/no-district" and not a["district"]:
        return False
    if form.startswith("address/typo") and len(a["street"]) < 6:
        return False
    return True


def ph_groups(d):
    n = fmt_national(d)
    return n


PHONE_FORMS = {
    "phone/national": lambda rng, d: fmt_national(d),
    "phone/nospace": lambda rng, d: d,
    "phone/intl": lambda rng, d: "+44 " + fmt_national(d)[1:],
    "phone/intl-nospace": lambda rng, d: "+44" + d[1:],
    "phone/intl-zero": lambda rng, d: "+44 (0)" + fmt_national(d)[1:],
    "phone/0044": lambda rng, d: "0044 " + fmt_national(d)[1:],
    "phone/dashed": lambda rng, d: fmt_national(d).replace(" ", "-"),
    "phone/brackets": lambda rng, d: "("
    + fmt_national(d).split(" ", 1)[0]
    + ") "
    + fmt_national(d).split(" ", 1)[1],
    "phone/odd-grouping": lambda rng, d: f"{d[:3]} {d[3:6]} {d[6:8]} {d[8:]}",
    "phone/dotted": lambda rng, d: fmt_national(d).replace(" ", "."),
}


def nickname(p):
    return NICKS.get(p["first"], [None])[0]


NAME_FORMS = {
    "name/full": lambda rng, p: full_name(p),
    "name/first-last": lambda rng, p: full_name(p, middle=False),
    "name/surname-first": lambda rng,
    p: f"{p['surname'].upper() if rng.random() < 0.5 else p['surname']}, {p['first']}",
    "name/initial": lambda rng, p: f"{p['first'][0]}{rng.choice(['.', ''])} {p['surname']}",
    "name/title-initial": lambda rng,
    p: f"{rng.choice(['Ms', 'Mrs', 'Miss'])} {p['first'][0]} {p['surname']}",
    "name/nickname": lambda rng, p: f"{rng.choice(NICKS[p['first']])} {p['surname']}",
    "name/alias": lambda rng, p: f"{p['aliases'][0][0]} {p['aliases'][0][1]}",
    "name/alias-surname-first": lambda rng, p: f"{p['aliases'][0][1]}, {p['aliases'][0][0]}",
    "name/typo": lambda rng, p: f"{p['first']} {typo(rng, p['surname'])}",
    "name/upper": lambda rng, p: full_name(p, middle=False).upper(),
    "name/lower": lambda rng, p: full_name(p, middle=False).lower(),
    "name/possessive": lambda rng, p: full_name(p, middle=False) + "'s",
    "name/child": lambda rng, p: full_name(p),
}

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def ordinal(n):
    return f"{n}{'th' if 11 <= n <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


DOB_FORMS = {
    "dob/slash": lambda d: d.strftime("%d/%m/%Y"),
    "dob/dots": lambda d: d.strftime("%d.%m.%Y"),
    "dob/dashes": lambda d: d.strftime("%d-%m-%Y"),
    "dob/no-leading-zero": lambda d: f"{d.day}/{d.month}/{d.year}",
    "dob/two-digit-year": lambda d: d.strftime("%d/%m/%y"),
    "dob/written": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    "dob/ordinal": lambda d: f"{ordinal(d.day)} {MONTHS[d.month - 1]} {d.year}",
    "dob/ordinal-of": lambda d: f"{ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    "dob/us-written": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    "dob/abbrev-month": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    "dob/iso": lambda d: d.isoformat(),
}

EMAIL_FORMS = {
    "email/exact": lambda rng, e: e,
    "email/upper": lambda rng, e: e.upper(),
    "email/mixed-case": lambda rng, e: e[0].upper()
    + e[1 : e.index("@")]
    + e[e.index("@") :].title(),
    "email/plus-tag": lambda rng, e: e.replace(
        "@", "+" + rng.choice(["housing", "council", "post"]) + "@"
    ),
    "email/angle": lambda rng, e: f"<{e}>",
    "email/mailto": lambda rng, e: e,  # rendered as mailto link in html carriers, plain otherwise
}

# --------------------------------------------------------------------------- prose

OPENINGS = [
    "Thank you for your recent enquiry about the housing register, which we received on {date}.",
    "Further to our telephone conversation on {date}, I am writing to update you on the case.",
    "I am writing about the matters raised at the multi-agency meeting held on {date}.",
    "Following the review completed by my colleague {noise_name}, please see the update below.",
    "We have now received the documents requested in our letter dated {date} (our ref {ref}).",
]
NOISE_PARAS = [
    "The rent account shows arrears of £{amount} as of {date}; the next payment of £{amount2} is due on {date2}.",
    "My colleague {noise_name} from the {team} team will be in touch before {date2}. Our reference is {ref}.",
    "Please note that our office at {noise_addr} will be closed on {date2} for staff training.",
    "The landlord of {noise_addr}, {noise_name}, has confirmed the repairs were completed on {date}.",
    "If you have any questions, please call the switchboard on {noise_phone} quoting reference {ref}.",
    "The council tax band for {noise_addr} is D and the annual charge is £{amount}.",
    "A copy of this letter has been placed on file {ref} and shared with {noise_name}.",
    "The hearing listed for {date2} at 10:30 has been adjourned; the new date will be confirmed by the court.",
]
CLOSINGS = ["Yours sincerely,", "Kind regards,", "Best wishes,", "Many thanks,"]
TEAMS = ["Housing Options", "Income Recovery", "Tenancy Sustainment", "Early Help", "Repairs"]

ROLE = [
    "your former partner",
    "the applicant",
    "the tenant",
    "your daughter",
    "the resident",
    "our client",
]
ROLE_EXT = ["the new tenant", "our client", "the applicant", "the resident", "the customer"]

SENT = {
    "address": [
        "I can confirm that {role} has now moved to {d}.",
        "The new tenancy at {d} started on {date}.",
        "Please send any further correspondence for {role} to {d}.",
        "Keys for {d} were handed over on {date} and the inventory has been signed.",
        "The repair request for {d} has been logged under reference {ref}.",
        "Post should now be redirected to {d} from {date}.",
    ],
    "address_block": [
        "I can confirm that {role} has now moved to the address below:",
        "Please update your records with the new address:",
        "The property allocated on {date} is:",
    ],
    "phone": [
        "{Role} can be contacted on {d} during office hours.",
        "Her new mobile number is {d}, please use it for appointments.",
        "If the engineer needs access, please ring {d} first.",
        "Contact number for the household: {d}",
    ],
    "email": [
        "{Role} has asked that all correspondence is sent to {d} from now on.",
        "Please reply directly to {d} with the appointment time.",
        "Email address on file: {d}",
    ],
    "name": [
        "I am writing regarding {d} and the application made on {date}.",
        "We have updated the file for {d} following the review on {date}.",
        "The school place for {d} has been confirmed from {date}.",
        "The report concerning {d} will be finalised by {date}.",
    ],
    "dob": [
        "The date of birth held on our records is {d}.",
        "For identification, the date of birth given was {d}.",
        "DOB: {d}",
        "The child, born on {d}, has been registered with the local surgery.",
    ],
    "postcode": [
        "The property is in the {d} area and falls within our northern patch.",
        "Postcode for the tenancy: {d}",
        "Visits to {d} will be arranged by the outreach team.",
    ],
    "location": [
        "The delivery should be made to {d} before {date}.",
        "Our outreach worker will be based at {d} from {date}.",
        "Please invoice the works at {d} under reference {ref}.",
    ],
}
SUBJECTS = {
    "leak": [
        "Update on your case",
        "Re: housing application",
        "Tenancy update {ref}",
        "Correspondence - {ref}",
        "Re: your enquiry of {date}",
        "Information requested",
        "Case review {ref}",
    ],
    "ham": [
        "Council tax reminder {ref}",
        "Re: parking permit renewal",
        "Bin collection changes",
        "Your hearing date",
        "Re: repairs appointment",
        "Rent statement {ref}",
    ],
}


def fmt_date(rng):
    d = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 540))
    return rng.choice(
        [
            d.strftime("%d/%m/%Y"),
            f"{d.day} {MONTHS[d.month - 1]} {d.year}",
            f"{ordinal(d.day)} {MONTHS[d.month - 1]}",
        ]
    )


class Noise:
    def __init__(self, rng, R):
        self.rng, self.R = rng, R

    def name(self):
        return f"{self.rng.choice(NOISE_FIRST)} {self.rng.choice(NOISE_SURNAMES)}"

    def addr(self):
        rng = self.rng
        town, outs, _ = rng.choice(TOWNS)
        while True:
            pc = make_postcode(rng, rng.choice(outs))
            if pc not in self.R.used_pc:
                break
        return f"{rng.randint(1, 220)} {rng.choice(self.R.noise_streets)} {rng.choice(TYPES)}, {town}, {pc}"

    def phone(self):
        return (
            self.rng.choice(["0300 123 ", "0800 456 ", "0345 600 "])
            + f"{self.rng.randint(1000, 9999)}"
        )

    def ref(self):
        return (
            self.rng.choice(["HB", "HO", "TEN", "CT", "REP"])
            + f"/{self.rng.randint(2024, 2025)}/{self.rng.randint(1000, 999999):06d}"
        )

    def fill(self, s):
        rng = self.rng
        return s.format(
            date=fmt_date(rng),
            date2=fmt_date(rng),
            ref=self.ref(),
            noise_name=self.name(),
            noise_addr=self.addr(),
            noise_phone=self.phone(),
            team=rng.choice(TEAMS),
            amount=f"{rng.randint(20, 3000):,}.{rng.randint(0, 99):02d}",
            amount2=f"{rng.randint(20, 900)}.{rng.randint(0, 99):02d}",
        )

    def paras(self, n):
        return [self.fill(p) for p in self.rng.sample(NOISE_PARAS, n)]


# --------------------------------------------------------------------------- rendering

CARRIERS_INLINE_OK = [
    "body",
    "subject",
    "html-p",
    "html-br",
    "html-table",
    "html-nbsp",
    "html-spans",
    "qp",
    "b64",
    "pdf",
    "docx",
    "docx-table",
    "xlsx",
    "csv",
    "txt",
    "zip",
    "rfc822",
]


def inline(d):
    return d["sep"].join(d["parts"])


def text_detail(d):
    return "\n".join(d["parts"]) if d["block"] else inline(d)


def letter_text(L, items):
    """Plain-text letter; items are (sentence_with_{d}, detail) pairs."""
    out = [L["greeting"], "", L["opening"], ""]
    for sent, d in items:
        if d is None:
            out += [sent, ""]
        elif d["block"]:
            out += [sent, ""] + d["parts"] + [""]
        else:
            out += [sent.replace("{d}", inline(d)), ""]
    for p in L["noise"]:
        out += [p, ""]
    out += [L["closing"], "", *L["sig"]]
    return "\n".join(out) + "\n"


def h(s):
    return html.escape(s, quote=True)


def html_detail(d, mode, form):
    parts = d["parts"]
    if form.startswith("email/mailto"):
        v = inline(d)
        return f'<a href="mailto:{h(v)}">{h(v)}</a>'
    if mode == "html-br":
        return "<br>\n".join(h(p) for p in (parts if len(parts) > 1 else inline(d).split(", ")))
    if mode == "html-nbsp":
        return h(inline(d)).replace(" ", "&nbsp;")
    if mode == "html-spans":
        words = inline(d).split(" ")
        return " ".join(
            f'<span style="font-family:Calibri,sans-serif">{h(w)}</span>' for w in words
        )
    if d["block"]:
        return "<br>".join(h(p) for p in parts)
    return f"<b>{h(inline(d))}</b>" if mode == "html-p" else h(inline(d))


def letter_html(L, items, mode, form):
    body = [f"<p>{h(L['greeting'])}</p>", f"<p>{h(L['opening'])}</p>"]
    for sent, d in items:
        if d is None:
            body.append(f"<p>{h(sent)}</p>")
        elif mode == "html-table":
            lead = sent.split("{d}")[0].rstrip(" :") + ":" if "{d}" in sent else sent
            cells = d["parts"] if len(d["parts"]) > 1 else inline(d).split(", ")
            tds = "".join(
                f'<td style="border:1px solid #999;padding:2px">{h(c)}</td>' for c in cells
            )
            body.append(
                f'<p>{h(lead)}</p><table><tr><th>Ref</th><th colspan="{len(cells)}">Details</th></tr>'
                f"<tr><td>{h(L['ref'])}</td>{tds}</tr></table>"
            )
        elif d["block"]:
            body.append(f"<p>{h(sent)}</p><p>{html_detail(d, mode, form)}</p>")
        else:
            pre, _, post = sent.partition("{d}")
            body.append(f"<p>{h(pre)}{html_detail(d, mode, form)}{h(post)}</p>")
    for p in L["noise"]:
        body.append(f"<p>{h(p)}</p>")
    body.append(f"<p>{h(L['closing'])}</p><p>" + "<br>".join(h(s) for s in L["sig"]) + "</p>")
    return (
        '<html><head><meta charset="utf-8"></head><body style="font-family:Calibri">'
        + "\n".join(body)
        + "</body></html>"
    )


def make_pdf(lines):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1)
    c.setFont("Helvetica", 10)
    y = 800
    for line in lines:
        for w in textwrap.wrap(line, 95) or [""]:
            c.drawString(50, y, w)
            y -= 14
            if y < 60:
                c.showPage()
                c.setFont("Helvetica", 10)
                y = 800
    c.save()
    return buf.getvalue()


def pdf_lines(L, items):
    out = [L["org"], *L["org_addr"].split(", "), "", L["greeting"], "", L["opening"], ""]
    for sent, d in items:
        if d is None:
            out += [sent, ""]
        elif d["block"]:
            out += [sent] + d["parts"] + [""]
        else:
            txt = sent.replace("{d}", inline(d))
            if len(txt) > 95:  # keep the detail on one line
                pre, _, post = sent.partition("{d}")
                out += [pre.rstrip(), inline(d) + post, ""]
            else:
                out += [txt, ""]
    out += L["noise"] + ["", L["closing"], *L["sig"]]
    return out


def make_docx(L, items, table=False):
    import docx

    doc = docx.Document()
    doc.core_properties.author = "Housing Options"
    doc.core_properties.created = dt.datetime(2025, 6, 1)
    doc.core_properties.modified = dt.datetime(2025, 6, 1)
    doc.add_paragraph(L["greeting"])
    doc.add_paragraph(L["opening"])
    for sent, d in items:
        if d is None:
            doc.add_paragraph(sent)
        elif table:
            lead = sent.split("{d}")[0].rstrip(" :") + ":" if "{d}" in sent else sent
            doc.add_paragraph(lead)
            cells = d["parts"] if len(d["parts"]) > 1 else inline(d).split(", ")
            t = doc.add_table(rows=2, cols=len(cells) + 1)
            t.cell(0, 0).text = "Ref"
            t.cell(1, 0).text = L["ref"]
            for i, cval in enumerate(cells):
                t.cell(0, i + 1).text = f"Field {i + 1}"
                t.cell(1, i + 1).text = cval
        elif d["block"]:
            doc.add_paragraph(sent)
            p = doc.add_paragraph()
            for i, part in enumerate(d["parts"]):
                run = p.add_run(part)
                if i < len(d["parts"]) - 1:
                    run.add_break()
        else:
            doc.add_paragraph(sent.replace("{d}", inline(d)))
    for n in L["noise"]:
        doc.add_paragraph(n)
    doc.add_paragraph(L["closing"])
    doc.add_paragraph("\n".join(L["sig"]))
    buf = io.BytesIO()
    doc.save(buf)
    return normalise_zip(buf.getvalue())


def normalise_zip(data):
    """Rewrite a zip with fixed timestamps so output is byte-deterministic."""
    zin = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in zin.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=(2025, 6, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, zin.read(info.filename))
    return out.getvalue()


def table_rows(L, items, noise):
    """Spreadsheet-ish rows: header + one row per detail + noise rows."""
    width = max([len(d["parts"]) for _, d in items if d] + [1])
    header = ["Ref", "Record"] + [f"Field {i + 1}" for i in range(width)] + ["Updated"]
    rows = [header]
    for k in range(2):
        na = noise.addr().split(", ")
        rows.append(
            [noise.ref(), noise.name()] + (na + [""] * width)[:width] + [fmt_date(noise.rng)]
        )
    for sent, d in items:
        if d is None:
            continue
        label = sent.split("{d}")[0].strip(" :")[:40] if "{d}" in sent else sent[:40]
        rows.append([L["ref"], label] + (d["parts"] + [""] * width)[:width] + [fmt_date(noise.rng)])
    rows.append(
        [noise.ref(), noise.name()]
        + ([noise.phone()] + [""] * width)[:width]
        + [fmt_date(noise.rng)]
    )
    return rows


def make_xlsx(rows):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Records"
    for r in rows:
        ws.append(r)
    wb.properties.created = dt.datetime(2025, 6, 1)
    wb.properties.modified = dt.datetime(2025, 6, 1)
    buf = io.BytesIO()
    wb.save(buf)
    return normalise_zip(buf.getvalue())


def make_csv(rows):
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue().encode("utf-8")


def build_email(rng, idx, hdr, L, items, carrier, form, noise):
    msg = EmailMessage(policy=DEFAULT_POLICY)
    msg["From"] = hdr["from"]
    msg["To"] = hdr["to"]
    if hdr.get("cc"):
        msg["Cc"] = hdr["cc"]
    subject = L["subject"]
    if carrier == "subject":
        sent, d = next((s, d) for s, d in items if d is not None)
        subject = f"{subject} - {inline(d)}"
        items = [
            (s, dd) if dd is None else ("Please see the subject line for the details.", None)
            for s, dd in items
        ]
    msg["Subject"] = subject
    msg["Date"] = (
        dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=idx)
    ).strftime("%a, %d %b %Y %H:%M:%S +0000")
    msg["Message-ID"] = f"<eval-{idx:05d}@{INTERNAL}>"
    attach_kinds = {"pdf", "docx", "docx-table", "xlsx", "csv", "txt", "zip", "rfc822"}
    if carrier in attach_kinds:
        cover = dict(L)
        cover_items = [
            (
                f"Please find attached the {rng.choice(['letter', 'report', 'schedule', 'records'])} "
                f"for reference {L['ref']}.",
                None,
            )
        ]
        msg.set_content(letter_text(cover, cover_items))
        if carrier == "pdf":
            msg.add_attachment(
                make_pdf(pdf_lines(L, items)),
                maintype="application",
                subtype="pdf",
                filename=f"letter-{L['ref'].replace('/', '-')}.pdf",
            )
        elif carrier in ("docx", "docx-table"):
            msg.add_attachment(
                make_docx(L, items, table=carrier == "docx-table"),
                maintype="application",
                subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                filename="case-letter.docx",
            )
        elif carrier == "xlsx":
            msg.add_attachment(
                make_xlsx(table_rows(L, items, noise)),
                maintype="application",
                subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                filename="records-export.xlsx",
            )
        elif carrier == "csv":
            msg.add_attachment(
                make_csv(table_rows(L, items, noise)),
                maintype="text",
                subtype="csv",
                filename="records-export.csv",
            )
        elif carrier == "txt":
            msg.add_attachment(
                letter_text(L, items).encode("utf-8"),
                maintype="text",
                subtype="plain",
                filename="case-notes.txt",
            )
        elif carrier == "zip":
            inner_kind = idx % 3
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:

                def w(name, data):
                    z.writestr(zipfile.ZipInfo(name, date_time=(2025, 6, 1, 0, 0, 0)), data)

                w("readme.txt", "Case bundle exported from the housing system.\n")
                if inner_kind == 0:
                    w("bundle/letter.docx", make_docx(L, items))
                elif inner_kind == 1:
                    w("bundle/letter.pdf", make_pdf(pdf_lines(L, items)))
                else:
                    w("bundle/notes.txt", letter_text(L, items))
            msg.add_attachment(
                buf.getvalue(), maintype="application", subtype="zip", filename="case-bundle.zip"
            )
        elif carrier == "rfc822":
            inner = EmailMessage(policy=DEFAULT_POLICY)
            inner["From"] = f"{noise.name()} <{noise.name().split()[1].lower()}@{INTERNAL}>"
            inner["To"] = f"housing.options@{INTERNAL}"
            inner["Subject"] = L["subject"]
            inner["Date"] = "Fri, 30 May 2025 14:12:00 +0000"
            inner.set_content(letter_text(L, items))
            msg.add_attachment(inner, filename="forwarded.eml")
        return msg
    if carrier.startswith("html"):
        msg.set_content(letter_html(L, items, carrier, form), subtype="html")
        return msg
    text = letter_text(L, items)
    if carrier == "qp":
        # long unwrapped paragraphs with non-ASCII force soft line breaks through the detail
        text = text.replace("\n\n", "\u2029").replace("\n", " ").replace("\u2029", "\n\n")
        text = "Ref: " + L["ref"] + " \u2013 \u00a3 amounts as stated. " + text
        msg.set_content(text, cte="quoted-printable")
    elif carrier == "b64":
        msg.set_content(text, cte="base64")
    else:
        msg.set_content(text)
    return msg


# --------------------------------------------------------------------------- generation


def make_letter(rng, noise, greeting, audience):
    org, org_addr, org_phone = rng.choice(ORG_SIGS)
    officer = noise.name()
    ref = noise.ref()
    return {
        "greeting": greeting,
        "opening": noise.fill(rng.choice(OPENINGS)),
        "noise": noise.paras(rng.randint(1, 3)),
        "closing": rng.choice(CLOSINGS),
        "sig": [officer, org, org_addr, f"Tel: {org_phone}", f"Ref: {ref}"],
        "org": org,
        "org_addr": org_addr,
        "ref": ref,
        "subject": noise.fill(rng.choice(SUBJECTS["leak" if audience else "ham"])),
    }


def sentence(rng, kind, d, block=False):
    if block:
        return rng.choice(SENT["address_block"]).format(date=fmt_date(rng), role=rng.choice(ROLE))
    s = rng.choice(SENT[kind])
    role = rng.choice(ROLE)
    return (
        s.replace("{Role}", role[0].upper() + role[1:])
        .replace("{role}", role)
        .replace("{date}", fmt_date(rng))
        .replace("{ref}", f"REF-{rng.randint(10000, 99999)}")
    )


def restricted_rcpt(rng, c, rform, R):
    r = rng.choice(c["restricted"])
    e = r["emails"][0]
    local, dom = e.split("@")
    disp = f"{r['first']} {r['surname']}"
    to_hdr, cc_hdr, rcpt = e, None, [e]
    if rform == "rcpt/exact":
        to_hdr = f"{disp} <{e}>"
    elif rform == "rcpt/upper":
        to_hdr = rcpt[0] = e.upper()
        rcpt = [to_hdr]
    elif rform == "rcpt/plus-tag":
        a = f"{local}+{rng.choice(['post', 'council', 'letters'])}@{dom}"
        to_hdr, rcpt = a, [a]
    elif rform == "rcpt/display-name":
        a = f"{rng.choice(['mw', 'dad', 'the.boss', 'k9'])}{rng.randint(100, 999)}@anon-mail.example.net"
        to_hdr, rcpt = f'"{disp}" <{a}>', [a]
    elif rform == "rcpt/display-alias":
        a = f"user{rng.randint(1000, 9999)}@anon-mail.example.net"
        to_hdr, rcpt = f'"{r["aliases"][0]}" <{a}>', [a]
    elif rform == "rcpt/lookalike-1edit":
        i = rng.randrange(1, len(local))
        l2 = local[:i] + local[i] + local[i:] if rng.random() < 0.5 else local[:i] + local[i + 1 :]
        a = f"{l2}@{dom}"
        to_hdr, rcpt = a, [a]
    elif rform == "rcpt/lookalike-domain":
        d2 = (
            dom.replace("example", "examp1e") if "example" in dom else dom.replace("gmail", "gmai1")
        )
        a = f"{local}@{d2}"
        to_hdr, rcpt = a, [a]
    elif rform == "rcpt/gmail-dots":
        a = (
            local.replace(".", "") + "@gmail.com"
            if "." in local
            else local[:3] + "." + local[3:] + "@gmail.com"
        )
        to_hdr, rcpt = a, [a]
    elif rform == "rcpt/cc":
        to_hdr = f"caseworker.team@{INTERNAL}"
        cc_hdr = f"{disp} <{e}>"
        rcpt = [to_hdr, e]
    elif rform == "rcpt/bcc":
        to_hdr = f"records@{INTERNAL}"
        rcpt = [to_hdr, e]
    elif rform == "rcpt/second-email":
        a = r["emails"][1]
        to_hdr, rcpt = a, [a]
    return r, {"from": f"Housing Options <{MAIL_FROM}>", "to": to_hdr, "cc": cc_hdr}, rcpt


def rform_ok(rform, c):
    rs = c["restricted"]
    if rform == "rcpt/display-alias":
        return all(r["aliases"] for r in rs)
    if rform == "rcpt/gmail-dots":
        return all(r["emails"][0].endswith("@gmail.com") for r in rs)
    if rform == "rcpt/second-email":
        return all(len(r["emails"]) > 1 for r in rs)
    return True


R_FORMS = ["rcpt/exact"] * 6 + [
    "rcpt/upper",
    "rcpt/plus-tag",
    "rcpt/display-name",
    "rcpt/display-alias",
    "rcpt/lookalike-1edit",
    "rcpt/lookalike-domain",
    "rcpt/gmail-dots",
    "rcpt/cc",
    "rcpt/bcc",
    "rcpt/second-email",
]
E_FORMS = ["rcpt/external"] * 5 + [
    "rcpt/external+internal-cc",
    "rcpt/other-case-allowed",
    "rcpt/internal-lookalike",
    "rcpt/other-case-restricted",
]


def external_rcpt(rng, c, eform, R):
    if eform == "rcpt/external":
        a = rng.choice(EXT_RCPTS)
        return {"from": f"Housing Options <{MAIL_FROM}>", "to": a}, [a]
    if eform == "rcpt/external+internal-cc":
        a = rng.choice(EXT_RCPTS)
        i = f"team.leader@{INTERNAL}"
        return {"from": f"Housing Options <{MAIL_FROM}>", "to": i, "cc": a}, [i, a]
    other = rng.choice([o for o in R.cases if o is not c])
    if eform == "rcpt/other-case-allowed":
        a = other["allowed"][1]
    elif eform == "rcpt/other-case-restricted":
        a = other["restricted"][0]["emails"][0]
    else:
        a = rng.choice(EXT_LOOKALIKE)
    return {"from": f"Housing Options <{MAIL_FROM}>", "to": a}, [a]


def greeting_for(r):
    return (
        rng_choice_static(["Dear Mr {s},", "Dear {f},", "Dear {f} {s},"]).format(
            f=r["first"], s=r["surname"]
        )
        if r
        else "Dear Sir or Madam,"
    )


_gr = random.Random(7)


def rng_choice_static(xs):
    return _gr.choice(xs)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=20250602)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    random.seed(args.seed)  # MIME boundaries come from the global generator
    out = Path(args.outdir)
    if out.exists():
        shutil.rmtree(out)
    (out / "msgs").mkdir(parents=True)
    R = build_register(rng)
    write_register(R, rng, out / "register.yaml")
    noise = Noise(rng, R)
    entries = []
    counter = [0]

    def emit(expected, form, carrier, rform, case_id, hdr, rcpt, L, items, detail_txt, reg_value):
        counter[0] += 1
        idx = counter[0]
        name = f"msgs/{'leak' if expected == 'quarantine' else 'benign'}-{idx:05d}.eml"
        msg = build_email(rng, idx, hdr, L, items, carrier, form, noise)
        (out / name).write_bytes(msg.as_bytes(policy=DEFAULT_POLICY.clone(linesep="\r\n")))
        entries.append(
            {
                "file": name,
                "mail_from": MAIL_FROM,
                "rcpt": rcpt,
                "expected": expected,
                "form": form,
                "carrier": carrier,
                "rcpt_form": rform,
                "case": case_id,
                "detail": detail_txt,
                "register_value": reg_value,
            }
        )

    carriers = CARRIERS_INLINE_OK
    ccount = [0]

    def next_carrier(detail_block=False):
        ccount[0] += 1
        c = carriers[(ccount[0] * 7) % len(carriers)]
        if c == "subject" and detail_block:
            c = "body"
        return c

    # ---------------- leaks
    def leak_spec(audience):
        specs = []  # (form, kind)
        for f in ADDRESS_FORMS:
            specs.append((f, "address"))
        for f in ABROAD_FORMS:
            specs.append((f, "abroad"))
        for f in PHONE_FORMS:
            specs.append((f, "phone"))
        specs += [
            ("phone/landline-national", "landline"),
            ("phone/landline-brackets", "landline"),
            ("phone/landline-intl", "landline"),
        ]
        for f in EMAIL_FORMS:
            specs.append((f, "email"))
        specs += [
            ("location/full", "location"),
            ("location/multiline", "location"),
            ("location/abbrev-or-no-postcode", "location"),
        ]
        if audience == "restricted":
            for f in NAME_FORMS:
                specs.append((f, "name"))
            for f in DOB_FORMS:
                specs.append((f, "dob"))
            specs += [
                ("postcode/alone", "postcode"),
                ("postcode/nospace", "postcode"),
                ("postcode/lower", "postcode"),
            ]
        return specs

    def pick_case_for(kind, form):
        for _ in range(500):
            c = rng.choice(R.cases)
            adults = [p for p in c["protected"] if not p["child"]]
            p = adults[0]
            if kind == "address":
                cands = [a for a in p["addresses"] if addr_form_ok(form, a)]
                if cands:
                    return c, p, rng.choice(cands)
            elif kind == "abroad":
                cands = [a for a in p["addresses"] if a["kind"] == "abroad"]
                if cands:
                    return c, p, cands[0]
            elif kind == "postcode":
                cands = [a for a in p["addresses"] if a["kind"] == "uk"]
                if cands:
                    return c, p, rng.choice(cands)
            elif kind == "landline":
                cands = [
                    (d, reg)
                    for d, reg in zip(p["phones"], p["phones_reg"])
                    if not d.startswith("07")
                ]
                if cands:
                    return c, p, rng.choice(cands)
            elif kind == "phone":
                cands = [
                    (d, reg) for d, reg in zip(p["phones"], p["phones_reg"]) if d.startswith("07")
                ]
                return c, p, rng.choice(cands)
            elif kind == "email":
                return c, p, p["emails"][0]
            elif kind == "name":
                if form == "name/child":
                    kids = [k for k in c["protected"] if k["child"]]
                    if kids:
                        return c, rng.choice(kids), None
                    continue
                if form == "name/nickname" and p["first"] not in NICKS:
                    continue
                if form.startswith("name/alias") and not p["aliases"]:
                    continue
                if form == "name/typo" and len(p["surname"]) < 6:
                    continue
                return c, p, None
            elif kind == "dob":
                return c, rng.choice(c["protected"]), None
            elif kind == "location":
                return c, p, rng.choice(REFUGES)
        raise RuntimeError(form)

    def render_leak(kind, form, c, p, x):
        """-> (sentence kind, detail dict, register value)"""
        if kind in ("address", "abroad"):
            fn = ADDRESS_FORMS.get(form) or ABROAD_FORMS[form]
            return "address", fn(rng, x), x["text"]
        if kind == "postcode":
            pc = x["postcode"]
            v = {
                "postcode/alone": pc,
                "postcode/nospace": pc.replace(" ", ""),
                "postcode/lower": pc.lower(),
            }[form]
            return "postcode", D([v]), x["text"]
        if kind in ("phone", "landline"):
            d, reg = x
            if kind == "landline":
                f2 = {
                    "phone/landline-national": "phone/national",
                    "phone/landline-brackets": "phone/brackets",
                    "phone/landline-intl": "phone/intl",
                }[form]
            else:
                f2 = form
            return "phone", D([PHONE_FORMS[f2](rng, d)]), reg
        if kind == "email":
            return "email", D([EMAIL_FORMS[form](rng, x)]), x
        if kind == "name":
            return (
                "name",
                D([NAME_FORMS[form](rng, p)]),
                full_name(p)
                + (
                    f" (aliases {[a[0] + ' ' + a[1] for a in p['aliases']]})"
                    if p["aliases"]
                    else ""
                ),
            )
        if kind == "dob":
            return (
                "dob",
                D([DOB_FORMS[form](p["dob"])]),
                f"{full_name(p)} dob {p['dob'].isoformat()}",
            )
        if kind == "location":
            lid, label, addr = x
            if form == "location/full":
                dd = D([addr])
            elif form == "location/multiline":
                dd = D(addr.split(", "), block=True)
            else:
                parts = addr.split(", ")
                if rng.random() < 0.5:
                    dd = D(parts[:-1])
                else:
                    dd = D(
                        [
                            re.sub(
                                r"\b(" + "|".join(ABBR) + r")\b",
                                lambda m: ABBR[m.group(1)],
                                parts[0],
                            )
                            if re.search(r"\b(" + "|".join(ABBR) + r")\b", addr)
                            else parts[0]
                        ]
                        + parts[1:]
                    )
            return "location", dd, f"{lid}: {addr}"
        raise ValueError(kind)

    for audience, reps in (("restricted", 12), ("external", 14)):
        specs = leak_spec(audience)
        for rep in range(reps):
            for form, kind in specs:
                c, p, x = pick_case_for(kind, form)
                if audience == "restricted":
                    rforms = [f for f in R_FORMS if rform_ok(f, c)]
                    rform = rforms[(rep + len(form)) % len(rforms)]
                    r, hdr, rcpt = restricted_rcpt(rng, c, rform, R)
                    greeting = greeting_for(r)
                else:
                    rform = E_FORMS[(rep + len(form)) % len(E_FORMS)]
                    hdr, rcpt = external_rcpt(rng, c, rform, R)
                    greeting = "Dear Sir or Madam,"
                skind, d, regv = render_leak(kind, form, c, p, x)
                if kind == "email" and form == "email/mailto":
                    carrier = "html-p"
                else:
                    carrier = next_carrier(d["block"])
                L = make_letter(rng, noise, greeting, True)
                sent = sentence(rng, skind, d, d["block"])
                if audience == "external":
                    sent = sent.replace("your former partner", "the tenant").replace(
                        "your daughter", "the tenant"
                    )
                items = [(sent, d)]
                emit(
                    "quarantine",
                    f"{form}+{audience}",
                    carrier,
                    rform,
                    c["id"],
                    hdr,
                    rcpt,
                    L,
                    items,
                    text_detail(d),
                    regv,
                )

    # ---------------- benign
    def prot_details_case(c):
        """all strings a benign mail to this case's restricted contact must avoid"""
        return c

    def benign(form, carrier, rform, c, hdr, rcpt, greeting, items, detail_txt="", regv=""):
        L = make_letter(rng, noise, greeting, False)
        if detail_txt and len(items) >= 1 and items[0][1] is None and detail_txt in items[0][0]:
            items = [(items[0][0].replace(detail_txt, "{d}", 1), D([detail_txt]))] + items[1:]
        if carrier == "subject" and not any(d for _, d in items):
            carrier = "body"
        emit(
            "deliver",
            form,
            carrier,
            rform,
            c["id"] if c else None,
            hdr,
            rcpt,
            L,
            items,
            detail_txt,
            regv,
        )

    def other_matters(r):
        own_addr = noise.addr()
        return [
            (f"Our records show your address as {own_addr}; please tell us if this changes.", None),
            (
                noise.fill(
                    rng.choice(
                        [
                            "Your council tax account {ref} shows a balance of £{amount} payable by {date2}.",
                            "The parking permit for your vehicle expires on {date2}; renewal costs £{amount2}.",
                            "Your garden waste collection moves to alternate Fridays from {date2}.",
                            "We received your payment of £{amount2} on {date}, thank you.",
                            "Your repairs appointment is booked for {date2} between 8am and 1pm.",
                        ]
                    )
                ),
                None,
            ),
            (
                f"If you need to reach us, email {noise.name().split()[0].lower()}.{noise.name().split()[1].lower()}"
                f"@{INTERNAL} or call {noise.phone()}.",
                None,
            ),
        ]

    # restricted contacts, other matters (various recipient forms and carriers)
    for i in range(220):
        c = rng.choice(R.cases)
        rforms = [f for f in R_FORMS if rform_ok(f, c)]
        rform = rforms[i % len(rforms)]
        r, hdr, rcpt = restricted_rcpt(rng, c, rform, R)
        its = other_matters(r)
        if rng.random() < 0.4 and r["phones"]:
            its.append((f"We have your mobile number as {fmt_national(r['phones'][0])}.", None))
        own_dob = dt.date(rng.randint(1960, 1990), rng.randint(1, 12), rng.randint(1, 28))
        if rng.random() < 0.3 and own_dob not in [q["dob"] for q in c["protected"]]:
            its.append((f"Your date of birth is recorded as {own_dob.strftime('%d/%m/%Y')}.", None))
        benign(
            "benign/restricted-other-matters",
            next_carrier(),
            rform,
            c,
            hdr,
            rcpt,
            greeting_for(r),
            its,
        )

    # restricted contact, other case's protected person named (name alone => not this case)
    for i in range(60):
        c = rng.choice(R.cases)
        o = rng.choice(
            [
                x
                for x in R.cases
                if x is not c
                and not (
                    {p["surname"] for p in x["protected"]} & {p["surname"] for p in c["protected"]}
                )
            ]
        )
        po = o["protected"][0]
        r, hdr, rcpt = restricted_rcpt(rng, c, "rcpt/exact", R)
        kind = i % 2
        if kind == 0:
            its = [
                (
                    f"Your neighbour complaint about {full_name(po, False)} has been passed to the ASB team.",
                    None,
                )
            ]
            f, v = "benign/restricted-other-case-name", full_name(po)
        else:
            its = [
                (
                    f"The tenancy start date {po['dob'].strftime('%d/%m/%Y')} was entered in error and has been corrected.",
                    None,
                )
            ]
            f, v = "benign/restricted-other-case-dob", po["dob"].isoformat()
        benign(
            f,
            next_carrier(),
            "rcpt/exact",
            c,
            hdr,
            rcpt,
            greeting_for(r),
            its + other_matters(r)[1:],
            its[0][0],
            v,
        )

    # external: name / postcode / dob alone
    for form, n in (
        ("benign/external-name", 80),
        ("benign/external-postcode", 80),
        ("benign/external-dob", 80),
        ("benign/external-name+dob", 60),
    ):
        for i in range(n):
            c = rng.choice(
                [x for x in R.cases if x["protected"][0]["addresses"][0]["kind"] == "uk"]
            )
            p = c["protected"][0] if form != "benign/external-dob" else rng.choice(c["protected"])
            a = rng.choice(EXT_RCPTS)
            hdr = {"from": f"Housing Options <{MAIL_FROM}>", "to": a}
            if form == "benign/external-name":
                nm = rng.choice(
                    [full_name(p), full_name(p, False), f"{p['first'][0]}. {p['surname']}"]
                )
                s, v, det = (
                    f"We are writing on behalf of {nm}, who has given consent for us to discuss her account.",
                    full_name(p),
                    nm,
                )
            elif form == "benign/external-postcode":
                pc = p["addresses"][0]["postcode"]
                s, v, det = (
                    f"We are looking for properties in or near {pc} for a family of four.",
                    p["addresses"][0]["text"],
                    pc,
                )
            elif form == "benign/external-dob":
                db = rng.choice(list(DOB_FORMS.values()))(p["dob"])
                s, v, det = (
                    f"The date of birth given on the form was {db}; please confirm it matches your records.",
                    p["dob"].isoformat(),
                    db,
                )
            else:
                db = DOB_FORMS["dob/slash"](p["dob"])
                s, v, det = (
                    f"Patient: {full_name(p, False)}, date of birth {db}. Please transfer the records to the new practice.",
                    full_name(p),
                    f"{full_name(p, False)} {db}",
                )
            benign(
                form,
                next_carrier(),
                "rcpt/external",
                c,
                hdr,
                [a],
                "Dear Sir or Madam,",
                [(s, None)],
                det,
                v,
            )

    # near misses
    def near(form, i):
        c = rng.choice([x for x in R.cases if x["protected"][0]["addresses"][0]["kind"] == "uk"])
        p = c["protected"][0]
        a = p["addresses"][0]
        to_restricted = form in (
            "near/surname-only",
            "near/name-2edits",
            "near/name-other-first",
            "near/dob-other",
            "near/phone-1digit+restricted",
        )
        if to_restricted:
            r, hdr, rcpt = restricted_rcpt(rng, c, "rcpt/exact", R)
            greet, rform = greeting_for(r), "rcpt/exact"
        else:
            e = rng.choice(EXT_RCPTS)
            hdr, rcpt, greet, rform = (
                {"from": f"Housing Options <{MAIL_FROM}>", "to": e},
                [e],
                "Dear Sir or Madam,",
                "rcpt/external",
            )
        if form == "near/house-number":
            b = dict(a)
            b["num"] = a["num"] + rng.choice([2, 4, 10, 1, -1 if a["num"] > 1 else 3])
            if b["num"] < 1:
                b["num"] = a["num"] + 2
            b["flat"] = None
            det = ", ".join(addr_parts(b))
            s = f"The inspection at {det} is booked for {fmt_date(rng)}."
        elif form == "near/house-number+number-nearby":
            b = dict(a)
            b["num"] = a["num"] + rng.choice([1, 2, 4])
            b["flat"] = None
            det = ", ".join(addr_parts(b))
            if a["num"] <= 28:
                s = f"After our visit on {a['num']} {rng.choice(MONTHS)}, the inspection at {det} is booked for {fmt_date(rng)}."
            else:
                s = f"We manage {a['num']} homes on the estate; the inspection at {det} is booked for {fmt_date(rng)}."
        elif form == "near/other-postcode":
            b = dict(a)
            town, outs, _ = rng.choice([t for t in TOWNS if t[0] != a["town"]])
            b["town"], b["district"] = town, None
            while True:
                b["postcode"] = make_postcode(rng, rng.choice(outs))
                if b["postcode"] not in R.used_pc:
                    break
            det = ", ".join(addr_parts(b))
            s = f"The inspection at {det} is booked for {fmt_date(rng)}."
        elif form in ("near/phone-1digit", "near/phone-1digit+restricted"):
            d = p["phones"][0]
            while True:
                k = rng.randrange(5, 11)
                d2 = d[:k] + str((int(d[k]) + rng.randint(1, 9)) % 10) + d[k + 1 :]
                if d2 not in R.used_phone:
                    break
            det = fmt_national(d2)
            s = f"The engineer can be reached on {det} on the day."
        elif form == "near/email-other":
            e = p["emails"][0]
            loc, dom = e.split("@")
            det = f"{noise.name().split()[0].lower()}.{rng.choice(NOISE_SURNAMES).lower().replace(chr(39), '')}@{dom}"
            s = f"Please copy {det} into any reply."
        elif form == "near/surname-only":
            det = rng.choice(
                [f"Ms {p['surname']}", f"the {p['surname']} family", f"{p['surname']} household"]
            )
            s = f"The file note mentioning {det} was about the previous tenancy and has been closed."
        elif form == "near/name-2edits":
            det = f"{p['first']} {far_variant(rng, p['surname'])}"
            s = f"I have also written to {det} about the fence dispute."
        elif form == "near/name-other-first":
            nicks = set(NICKS.get(p["first"], []))
            avoid = {q["first"][0] for q in c["protected"]} | {
                q["first"][0] for q in c["restricted"]
            }
            fn = rng.choice([n for n in NOISE_FIRST if n[0] not in avoid and n not in nicks])
            det = f"{fn} {p['surname']}"
            s = f"Your cousin {det} has asked us to pass on her new landline number for the family."
            s = f"Your cousin {det} phoned about the shared garden on {fmt_date(rng)}."
        elif form == "near/dob-other":
            q = rng.choice(c["protected"])
            od = q["dob"].replace(year=q["dob"].year + rng.choice([-3, -2, 2, 5]))
            det = od.strftime("%d/%m/%Y")
            s = f"The date on the notice, {det}, has passed."
        return c, hdr, rcpt, greet, rform, [(s, None)], det

    for form, n in (
        ("near/house-number", 90),
        ("near/house-number+number-nearby", 60),
        ("near/other-postcode", 80),
        ("near/phone-1digit", 60),
        ("near/phone-1digit+restricted", 40),
        ("near/email-other", 40),
        ("near/surname-only", 60),
        ("near/name-2edits", 60),
        ("near/name-other-first", 50),
        ("near/dob-other", 50),
    ):
        for i in range(n):
            c, hdr, rcpt, greet, rform, its, det = near(form, i)
            benign(form, next_carrier(), rform, c, hdr, rcpt, greet, its, det, "")

    # allowed / internal recipients with full details
    for form, n in (
        ("allowed/full-details", 100),
        ("allowed/upper-address", 20),
        ("internal/full-details", 80),
        ("internal/subdomain", 30),
        ("internal/upper-domain", 20),
        ("internal/protected-location", 30),
    ):
        for i in range(n):
            c = rng.choice(R.cases)
            p = c["protected"][0]
            if form.startswith("allowed"):
                a = c["allowed"][1] if i % 4 else c["allowed"][0]
                if form == "allowed/upper-address":
                    a = c["allowed"][1].upper()
            elif form == "internal/subdomain":
                a = f"safeguarding@housing.{INTERNAL}"
            elif form == "internal/upper-domain":
                a = f"Team.Leader@{INTERNAL.upper()}"
            else:
                a = f"{rng.choice(['idva', 'team.leader', 'records', 'safeguarding'])}@{INTERNAL}"
            hdr = {"from": f"Housing Options <{MAIL_FROM}>", "to": a}
            if form == "internal/protected-location":
                lid, label, addr = rng.choice(REFUGES)
                its = [("The outreach session will be held at {d} on Thursday.", D([addr]))]
                det = addr
            else:
                its = [
                    ("Her current address is {d}.", D([p["addresses"][0]["text"]])),
                    ("Mobile: {d}", D([fmt_national(p["phones"][0])])),
                    ("Email: {d}", D([p["emails"][0]])),
                    (f"Name: {full_name(p)}, date of birth {p['dob'].strftime('%d/%m/%Y')}.", None),
                ]
                det = "full details"
            benign(
                form,
                next_carrier(),
                "rcpt/allowed" if form.startswith("allowed") else "rcpt/internal",
                c,
                hdr,
                [a],
                "Dear colleague,",
                its,
                det,
                "",
            )

    # external, unrelated attachments/addresses (noise only)
    for i in range(60):
        a = rng.choice(EXT_RCPTS)
        hdr = {"from": f"Housing Options <{MAIL_FROM}>", "to": a}
        its = [
            (
                f"The void property at {noise.addr()} is ready for viewing from {fmt_date(rng)}.",
                None,
            ),
            (f"Contact {noise.name()} on {noise.phone()} to arrange access.", None),
        ]
        benign(
            "benign/external-other-addresses",
            next_carrier(),
            "rcpt/external",
            None,
            hdr,
            [a],
            "Dear Sir or Madam,",
            its,
        )

    # ham corpus
    ham_files = sorted(HAM_DIR.glob("ham-*.eml"))
    ham_pick = rng.sample(ham_files, 320)
    all_values = []
    for c in R.cases:
        for p in c["protected"]:
            all_values.append(p["surname"].lower())
            all_values += [a[1].lower() for a in p["aliases"]]
            all_values += [
                a["postcode"].lower().replace(" ", "") for a in p["addresses"] if a["kind"] == "uk"
            ]
            all_values += [a.get("street", "").lower() for a in p["addresses"] if a["kind"] == "uk"]
            all_values += [ph[-7:] for ph in p["phones"]]
            all_values += [e.lower() for e in p["emails"]]
    ham_skipped = 0
    for i, f in enumerate(ham_pick):
        raw = f.read_bytes()
        low = raw.decode("latin-1").lower()
        digits = re.sub(r"\D", "", low)
        flat = low.replace(" ", "")
        if any((v in digits) if v.isdigit() else (v in flat) for v in all_values if v):
            ham_skipped += 1
            continue
        counter[0] += 1
        name = f"msgs/benign-{counter[0]:05d}-{f.name}"
        (out / name).write_bytes(raw)
        if i % 3 == 0:
            c = rng.choice(R.cases)
            rcpt = [rng.choice(c["restricted"])["emails"][0]]
            form, rform, cid = "ham/to-restricted", "rcpt/exact", c["id"]
        else:
            rcpt = [rng.choice(EXT_RCPTS)]
            form, rform, cid = "ham/to-external", "rcpt/external", None
        entries.append(
            {
                "file": name,
                "mail_from": MAIL_FROM,
                "rcpt": rcpt,
                "expected": "deliver",
                "form": form,
                "carrier": "ham",
                "rcpt_form": rform,
                "case": cid,
                "detail": "",
                "register_value": "",
            }
        )

    with open(out / "manifest.jsonl", "w", encoding="utf-8") as fh:
        for e in entries:
            fh.write(json.dumps(e, ensure_ascii=False) + "\n")
    cmd = (
        f"gateway scan --register {out}/register.yaml "
        f"--internal-domain {INTERNAL} --json --manifest {out}/manifest.jsonl"
    )
    (out / "COMMAND.txt").write_text(cmd + "\n")
    nl = sum(e["expected"] == "quarantine" for e in entries)
    print(
        f"wrote {len(entries)} messages ({nl} leaks, {len(entries) - nl} benign; "
        f"{ham_skipped} ham files skipped for containing register values) to {out}"
    )
    print(f"scan with: {cmd}")


if __name__ == "__main__":
    main()
