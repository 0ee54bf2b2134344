"""Image-check accuracy on the labelled set: the set itself, then a confusion table per check.

Run: python bench/accuracy.py [--seed N] [--quiet]. The set is rebuilt from scikit-image's shipped
photos and synthetic scenes each run; tests/analysis/test_accuracy.py holds the 95 % floor.
"""

from __future__ import annotations

import argparse
import time

from watchkeeper.testing.frames_dataset import CHECKED_KINDS, accuracy, confusion, labelled_samples, run_checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026, help="noise and occluder placement (2026 = tuning seed)")
    parser.add_argument("--quiet", action="store_true", help="print only the confusion table")
    args = parser.parse_args()
    start = time.perf_counter()
    samples = labelled_samples(args.seed)
    outcomes = run_checks(samples)
    elapsed = time.perf_counter() - start
    if not args.quiet:
        print(f"{'sample':36s} {'profile':7s} {'size':>9s}  {'expected':22s} found")
        for outcome in outcomes:
            sample = outcome.sample
            h, w = sample.frames[-1].shape[:2]
            expected = ",".join(sorted(sample.expected)) or "-"
            found = ",".join(sorted(outcome.found)) or "-"
            mark = "" if outcome.found == sample.expected else "   <-- differs"
            print(f"{sample.name:36s} {sample.profile:7s} {w:>4d}x{h:<4d}  {expected:22s} {found}{mark}")
        print()
    print(f"{len(samples)} samples, seed {args.seed}, analysed in {elapsed:.1f} s")
    print(f"{'check':12s} {'TP':>4s} {'FP':>4s} {'FN':>4s} {'TN':>4s} {'accuracy':>9s}")
    table = confusion(outcomes)
    for kind in CHECKED_KINDS:
        c = table[kind]
        print(f"{kind:12s} {c['tp']:4d} {c['fp']:4d} {c['fn']:4d} {c['tn']:4d} {accuracy(c):9.1%}")
    clean = [o for o in outcomes if not o.sample.expected]
    flagged = sum(1 for o in clean if o.found)
    print(f"undegraded samples with a finding: {flagged} of {len(clean)}")


if __name__ == "__main__":
    main()
