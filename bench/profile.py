"""Summarise a py-spy raw profile: where the controller's CPU time goes.

`python -m bench --profile DIR` attaches `py-spy record --format raw` to every
controller it starts (sampling at 100 Hz, idle threads left out, so samples
are CPU time). Each output line is a collapsed stack, `frame;frame;... count`.
`python -m bench.profile DIR/profile-n1000.txt` prints the functions with the
most samples on-CPU themselves (self) and under them (total), with file
paths shortened to the package, so a hot spot reads as `module:function`.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "src/", "lib/python3.11/", "lib/python3.12/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path.removesuffix('.py').replace('/', '.')}:{match['func']}"


def summarise(path: Path, top: int = 25) -> str:
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_name(f) for f in stack.split(";") if f]
        if frames:
            own[frames[-1]] += n
        for name in set(frames):
            under[name] += n
    lines = [f"{total} samples ({total / 100:.1f} CPU-seconds at 100 Hz)", "", "self:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    lines += ["", "total (self + callees):"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in under.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(summarise(args.profile, args.top))


if __name__ == "__main__":
    main()
