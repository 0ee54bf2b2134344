"""Sealing a backup's config and key: rage's timed work factor against watchkeeper's fixed one, interleaved.

Run: python bench/backup_seal.py [--rounds 5]
Each round seals and opens the same secret with pyrage (the anchor: rage picks the scrypt work factor
by timing scrypt on this machine at that moment) and with watchkeeper.site.agefile (2^18, fixed).
Prints the median seconds of a seal plus an open for each, their ratio, and the work factors rage
picked: rage refuses to open a file whose factor is more than 4 above the one it picks when opening,
so any two of its picks 5 apart are a backup taken at one moment that the right passphrase does not
open at the other.
"""

from __future__ import annotations

import argparse
import statistics
import time

import pyrage

from watchkeeper.site.agefile import SEAL_WORK_FACTOR, open_sealed, seal

SECRET = b'{"config": "' + b"x" * 4000 + b'", "journal_key": "' + b"ab" * 32 + b'"}'
PASSPHRASE = "correct horse battery staple"


def with_rage() -> tuple[float, int]:
    started = time.perf_counter()
    sealed = pyrage.passphrase.encrypt(SECRET, PASSPHRASE)
    assert pyrage.passphrase.decrypt(sealed, PASSPHRASE) == SECRET
    factor = int(sealed.split(b"\n")[1].split(b" ")[-1])
    return time.perf_counter() - started, factor


def with_agefile() -> float:
    started = time.perf_counter()
    assert open_sealed(seal(SECRET, PASSPHRASE), PASSPHRASE) == SECRET
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    rage, ours, factors = [], [], []
    for _ in range(rounds):
        seconds, factor = with_rage()
        rage.append(seconds)
        factors.append(factor)
        ours.append(with_agefile())
    anchor, fixed = statistics.median(rage), statistics.median(ours)
    print(f"pyrage (anchor), work factor timed each time: {anchor:.2f} s a seal+open (median of {rounds})")
    print(f"agefile, work factor 2^{SEAL_WORK_FACTOR} fixed:         {fixed:.2f} s ({fixed / anchor:.2f} x the anchor)")
    print(f"work factors rage picked: {factors} (spread {max(factors) - min(factors)}; 5 or more refuses the "
          "right passphrase)")


if __name__ == "__main__":
    main()
