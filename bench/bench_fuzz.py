"""Hostile-input fuzz at volume: generated messages through the streaming job's judge, counted.

The messages are those of the unit fuzz (``tests/hostile_messages.py``: wrong types, huge and
non-finite numbers, deep nesting, multi-MB payloads, invalid UTF-8, broken locations, missing and extra
fields, another stream's event on a topic, tombstones), drawn by Hypothesis in its generate phase only,
and judged in Kafka-like batches by the judge's own Arrow function (``mapInArrow``'s, no Spark). A
*crash* is any exception out of the judge or a broken property (a reject without a reason in the
contract's form, a quarantine row whose bytes differ from the message's); the run fails on any.

Prints the counts (valid, rejected per kind, shapes), the judge's throughput (messages/s and MB/s,
time in the judge only; generation is Hypothesis's and is shown apart) and the crashes. The last line
is a JSON object for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the generator lives with the tests

from tests.hostile_messages import Hostile, draw_batches
from tests.unit.test_contract_fuzz import check_verdicts, judge_all


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="at least this many messages")
    parser.add_argument("--batch", type=int, default=20, help="messages per judged batch (at most)")
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random)")
    parser.add_argument("--progress", type=int, default=1_000, help="print a line every N messages")
    args = parser.parse_args()

    counts: Counter[str] = Counter()
    crashes: list[str] = []
    judged_s = 0.0
    judged_bytes = 0
    started = time.perf_counter()

    def fuzz(messages: list[Hostile]) -> None:
        nonlocal judged_s, judged_bytes
        t0 = time.perf_counter()
        try:
            out = judge_all(messages)
        except Exception as exc:  # the property this bench exists to check: no message crashes the judge
            crashes.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            counts["messages"] += len(messages)
            return
        judged_s += time.perf_counter() - t0
        judged_bytes += sum(len(m.value or b"") for m in messages)
        counts["messages"] += len(messages)
        try:
            errors = check_verdicts(messages, out)
        except AssertionError as exc:
            crashes.append(f"property: {str(exc)[:200]}")
            return
        if counts["messages"] // args.progress > (counts["messages"] - len(messages)) // args.progress:
            print(
                f"... {counts['messages']:,} messages, {counts['valid']:,} valid, {len(crashes)} crashes, "
                f"judge {counts['messages'] / judged_s:,.0f} messages/s",
                flush=True,
            )
        for message, error in zip(messages, errors, strict=True):
            counts["valid" if error is None else f"rejected {error.split(':')[0]}"] += 1
            if message.shape != message.topic_stream:
                counts["another stream's event on the topic"] += 1
            if message.value is None:
                counts["tombstones"] += 1
            elif len(message.value) >= 1024 * 1024:
                counts["payloads of 1 MiB or more"] += 1

    draw_batches(fuzz, args.messages, seed=args.seed, batch=args.batch)
    wall = time.perf_counter() - started
    n = counts["messages"]
    for key, value in sorted(counts.items()):
        print(f"{key:40} {value:>8,}")
    print(f"{'crashes':40} {len(crashes):>8,}")
    for crash in crashes[:10]:
        print("  ", crash)
    rate = n / judged_s if judged_s else 0.0
    print(
        f"judge: {n:,} messages in {judged_s:.1f} s = {rate:,.0f} messages/s, "
        f"{judged_bytes / judged_s / 1e6:.1f} MB/s"
    )
    print(f"wall (generation included): {wall:.1f} s")
    print(
        json.dumps(
            {
                "messages": n,
                "crashes": len(crashes),
                "valid": counts["valid"],
                "rejected": n - counts["valid"],
                "judge_messages_per_s": round(rate),
                "judge_mb_per_s": round(judged_bytes / judged_s / 1e6, 1) if judged_s else 0.0,
                "wall_s": round(wall, 1),
            }
        )
    )
    return 1 if crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
