"""A minimal writer of OLE compound files (CFB version 3), for building real .msg files.

No library writes CFB, so the tests build their own: every stream is padded to the
4096-byte mini-stream cutoff so only the FAT is needed; siblings form a chain of
right links, which readers walk without checking the red-black colouring.
"""

from __future__ import annotations

import itertools
import struct

SECTOR = 512
FREE, END, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
CUTOFF = 4096

# A tree: {name: bytes (a stream) or dict (a storage)}
Tree = dict[str, "bytes | Tree"]


def padded(data: bytes) -> bytes:
    """Stream bytes padded with NULs to the cutoff, so they live in normal sectors."""
    return data + b"\x00" * max(0, CUTOFF - len(data))


def build(tree: Tree) -> bytes:
    """The bytes of a compound file holding ``tree``."""
    entries: list[dict[str, object]] = [{"name": "Root Entry", "type": 5, "data": b""}]
    _flatten(tree, 0, entries)
    sectors: list[bytes] = []
    fat: list[int] = []
    for entry in entries:
        data = entry["data"]
        assert isinstance(data, bytes)
        entry["start"], entry["size"] = _place(data, sectors, fat) if data else (END, 0)
    dir_bytes = b"".join(_dir_entry(e) for e in entries)
    dir_bytes += b"\x00" * (-len(dir_bytes) % SECTOR)
    first_dir, _ = _place(dir_bytes, sectors, fat)
    fat_count = 1
    while (len(fat) + fat_count) > fat_count * (SECTOR // 4):
        fat_count += 1
    fat_start = len(fat)
    fat += [FATSECT] * fat_count
    fat += [FREE] * (fat_count * (SECTOR // 4) - len(fat))
    fat_bytes = struct.pack(f"<{len(fat)}I", *fat)
    sectors += [fat_bytes[i : i + SECTOR] for i in range(0, len(fat_bytes), SECTOR)]
    difat = [fat_start + i for i in range(fat_count)] + [FREE] * (109 - fat_count)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        bytes.fromhex("D0CF11E0A1B11AE1"),
        b"\x00" * 16,
        0x3E,
        3,
        0xFFFE,
        9,
        6,
        b"\x00" * 6,
        0,
        fat_count,
        first_dir,
        0,
        CUTOFF,
        END,
        0,
        END,
        0,
    ) + struct.pack("<109I", *difat)
    return header + b"".join(sectors)


def _flatten(tree: Tree, parent: int, entries: list[dict[str, object]]) -> None:
    ids = []
    for name, value in tree.items():
        entry: dict[str, object] = {
            "name": name,
            "type": 1 if isinstance(value, dict) else 2,
            "data": b"" if isinstance(value, dict) else value,
        }
        entries.append(entry)
        ids.append(len(entries) - 1)
        if isinstance(value, dict):
            _flatten(value, len(entries) - 1, entries)
    for left, right in itertools.pairwise(ids):
        entries[left]["right"] = right
    if ids:
        entries[parent]["child"] = ids[0]


def _place(data: bytes, sectors: list[bytes], fat: list[int]) -> tuple[int, int]:
    start = len(sectors)
    chunks = [data[i : i + SECTOR] for i in range(0, len(data), SECTOR)]
    for number, chunk in enumerate(chunks):
        sectors.append(chunk + b"\x00" * (SECTOR - len(chunk)))
        fat.append(start + number + 1 if number + 1 < len(chunks) else END)
    return start, len(data)


def _dir_entry(entry: dict[str, object]) -> bytes:
    name = str(entry["name"]).encode("utf-16-le") + b"\x00\x00"
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        name,
        len(name),
        int(entry["type"]),
        1,  # type: ignore[call-overload]
        entry.get("left", NOSTREAM),
        entry.get("right", NOSTREAM),
        entry.get("child", NOSTREAM),
        b"\x00" * 16,
        0,
        0,
        0,
        entry.get("start", END),
        entry.get("size", 0),
    )
