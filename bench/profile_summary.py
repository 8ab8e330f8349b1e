"""Where a scenario's time goes, from the py-spy stacks ``./stack bench --profile DIR`` recorded.

    uv run --frozen python bench/profile_summary.py DIR [--top 12]

For each scenario and service (``DIR/<scenario>-<service>.txt``, py-spy's raw collapsed stacks), prints the
samples per thread, the functions of our own code (``twofold_*``) that the most samples passed through
(inclusive), and the frames where the samples were (exclusive): a Markdown report for the results.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# "function (path/to/module.py:line)" -> "function module.py"
FRAME = re.compile(r"^(?P<function>.+?) \((?P<path>[^():]+)(?::\d+)?\)$")
# frames of ours that every sample of the main thread passes through: they say nothing
EVERYWHERE = {"<module> (__main__.py)", "run (cli.py)", "serve (cli.py)"}


def frame_name(frame: str) -> tuple[str, str]:
    """A frame's function and file, and the file's path (for "ours or not")."""
    found = FRAME.match(frame)
    if not found:
        return frame, ""
    return f"{found['function']} ({Path(found['path']).name})", found["path"]


def summary(path: Path, top: int) -> list[str]:
    threads: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        thread, *frames = stack.split(";")
        total += samples
        threads[re.sub(r" \(\d+\)", "", thread)] += samples
        seen = set()
        for frame in frames:
            name, file = frame_name(frame)
            if "twofold_" in file and name not in seen and name not in EVERYWHERE:
                seen.add(name)
                ours[name] += samples
        if frames:
            leaves[frame_name(frames[-1])[0]] += samples
    if not total:
        return ["no samples"]

    def share(counter: Counter[str]) -> str:
        return "; ".join(f"{name} {n / total:.0%}" for name, n in counter.most_common(top))

    return [f"{total} samples; threads: {share(threads)}", f"our code (inclusive): {share(ours)}",
            f"where the samples were (exclusive): {share(leaves)}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    for path in sorted(args.directory.glob("*-*.txt")):
        scenario, _, service = path.stem.partition("-")
        print(f"### {scenario}: {service}\n")
        print("\n".join(f"- {line}" for line in summary(path, args.top)) + "\n")


if __name__ == "__main__":
    main()
