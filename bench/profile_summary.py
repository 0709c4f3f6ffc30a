"""Where the time goes, from a py-spy profile in collapsed form (``BENCH_PROFILE=dir make
bench`` writes one per phase):

    .venv/bin/python -m bench.profile_summary DIR/intake.txt --within admit_many

prints, of the samples whose stack contains ``--within`` (default: all), the share of
each function on the stack (inclusive) and at the top of it (self), largest first.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def frame_name(frame: str) -> str:
    """``admit_many (debtcases/commands/app.py:171)`` -> ``admit_many (debtcases/commands/
    app.py)``: one entry per function, whatever line was running."""
    frame = _LINE.sub(")", frame.strip())
    return frame.replace("/site-packages/", "/").split(".venv/lib/python3.11/")[-1]


def parse(text: str) -> list[tuple[list[str], int]]:
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append(([frame_name(f) for f in stack.split(";")], int(count)))
    return stacks


def summary(stacks: list[tuple[list[str], int]], within: str | None = None, top: int = 25) -> str:
    chosen = [(s, n) for s, n in stacks if within is None or any(within in f for f in s)]
    total = sum(n for _, n in chosen)
    everything = sum(n for _, n in stacks)
    if not total:
        return f"no samples{f' within {within!r}' if within else ''} (of {everything})"
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for stack, n in chosen:
        for f in set(stack):
            inclusive[f] += n
        own[stack[-1]] += n
    lines = [
        f"{total} samples{f' within {within!r}' if within else ''} "
        f"({100 * total / everything:.0f} % of {everything})",
        "inclusive:",
        *(f"  {100 * n / total:5.1f} %  {f}" for f, n in inclusive.most_common(top)),
        "self:",
        *(f"  {100 * n / total:5.1f} %  {f}" for f, n in own.most_common(top)),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--within", default=None, help="only stacks containing this text")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(summary(parse(args.profile.read_text()), args.within, args.top))


if __name__ == "__main__":
    main()
