#!/usr/bin/env python3
"""Score `gateway scan` against a set written by generate.py.

Usage:  python tests/evaluation/score.py EVALDIR [--gateway PATH]

Runs, once:
  gateway scan --register EVALDIR/register.yaml --internal-domain council.example.gov.uk \
      --json --manifest EVALDIR/manifest.jsonl
and compares each line's action with the manifest's `expected` label.
A leak counts as caught when the action is anything but `deliver`; a benign message counts
as a false positive when the action is anything but `deliver`. Always exits 0.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time
from pathlib import Path

INTERNAL = "council.example.gov.uk"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("evaldir")
    ap.add_argument(
        "--gateway", default=str(Path(__file__).resolve().parents[2] / ".venv/bin/gateway")
    )
    ap.add_argument("--examples", type=int, default=5)
    args = ap.parse_args()
    d = Path(args.evaldir)
    manifest = d / "manifest.jsonl"
    labels = [
        json.loads(line)
        for line in manifest.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    cmd = [
        args.gateway,
        "scan",
        "--register",
        str(d / "register.yaml"),
        "--internal-domain",
        INTERNAL,
        "--json",
        "--manifest",
        str(manifest),
    ]
    print("$ " + " ".join(cmd))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    print(
        f"exit status {proc.returncode}; wall time {wall:.1f}s for {len(labels)} messages "
        f"= {1000 * wall / max(1, len(labels)):.1f} ms/message (incl. start-up and register build)"
    )
    if proc.returncode not in (0, 1):
        print("stderr:", proc.stderr[-2000:])
    results = {}
    elapsed = []
    for line in proc.stdout.splitlines():
        try:
            o = json.loads(line)
        except json.JSONDecodeError:
            continue
        results[o.get("file")] = o
        if isinstance(o.get("elapsed_ms"), (int, float)):
            elapsed.append(o["elapsed_ms"])
    if elapsed:
        elapsed.sort()
        print(
            f"per-message elapsed_ms reported by the scanner: mean {sum(elapsed) / len(elapsed):.1f}, "
            f"p50 {elapsed[len(elapsed) // 2]:.1f}, p99 {elapsed[int(len(elapsed) * 0.99) - 1]:.1f}, "
            f"max {elapsed[-1]:.1f}"
        )

    missing = [lab["file"] for lab in labels if lab["file"] not in results]
    errors = [f for f, o in results.items() if "error" in o]
    if missing:
        print(f"!! {len(missing)} messages have no output line, e.g. {missing[:3]}")
    if errors:
        print(f"!! {len(errors)} messages errored, e.g. {errors[:3]}")

    def wrong(lab) -> bool:
        o = results.get(lab["file"])
        act = o.get("action") if o else None
        if lab["expected"] == "quarantine":
            return act in (None, "deliver")
        return act != "deliver"

    leaks = [lab for lab in labels if lab["expected"] == "quarantine"]
    benign = [lab for lab in labels if lab["expected"] == "deliver"]
    missed = [lab for lab in leaks if wrong(lab)]
    fps = [lab for lab in benign if wrong(lab)]
    print()
    print(
        f"RECALL on leaks : {len(leaks) - len(missed)}/{len(leaks)} = "
        f"{100 * (len(leaks) - len(missed)) / max(1, len(leaks)):.2f}%  (target >= 99%)"
    )
    print(
        f"FP rate (benign): {len(fps)}/{len(benign)} = {100 * len(fps) / max(1, len(benign)):.2f}%  "
        f"(target <= 0.5%)"
    )
    actions = collections.Counter(
        (lab["expected"], (results.get(lab["file"]) or {}).get("action")) for lab in labels
    )
    print("expected -> action counts:", dict(actions))

    def table(title, key, rows):
        groups = collections.defaultdict(list)
        for lab in rows:
            groups[key(lab)].append(lab)
        print()
        print(f"== {title}")
        print(f"  {'group':52s} {'count':>6s} {'wrong':>6s}")
        for g in sorted(groups, key=lambda g: (-sum(wrong(x) for x in groups[g]), g)):
            labs = groups[g]
            n_wrong = sum(wrong(x) for x in labs)
            mark = "  <--" if n_wrong else ""
            print(f"  {g:52s} {len(labs):6d} {n_wrong:6d}{mark}")

    table("LEAKS by form (+audience)", lambda x: x["form"], leaks)
    table("LEAKS by carrier", lambda x: x["carrier"], leaks)
    table("LEAKS by recipient form", lambda x: x["rcpt_form"], leaks)
    table("BENIGN by form", lambda x: x["form"], benign)
    table("BENIGN by carrier", lambda x: x["carrier"], benign)

    def examples(title, rows):
        groups = collections.defaultdict(list)
        for lab in rows:
            groups[lab["form"]].append(lab)
        if not groups:
            return
        print()
        print(f"== {title}: up to {args.examples} examples per failing form")
        for g in sorted(groups):
            print(f"  [{g}] {len(groups[g])} wrong")
            for lab in groups[g][: args.examples]:
                o = results.get(lab["file"]) or {}
                kinds = sorted({f.get("kind") for f in o.get("findings", [])})
                print(
                    f"    {lab['file']}  carrier={lab['carrier']} rcpt={lab['rcpt_form']} rcpt_addr={lab['rcpt']} "
                    f"case={lab['case']} action={o.get('action')} findings={kinds} rules={o.get('rules')}"
                )
                if lab.get("detail"):
                    print(f"        text: {lab['detail']!r}")
                if lab.get("register_value"):
                    print(f"        register: {lab['register_value']!r}")

    examples("MISSED LEAKS", missed)
    examples("FALSE POSITIVES", fps)
    return 0


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # always exit 0, as asked
        print(f"score.py error: {exc!r}", file=sys.stderr)
    sys.exit(0)
