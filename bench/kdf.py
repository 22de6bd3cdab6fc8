"""What one passphrase guess costs an attacker who holds a copy and its ``.keys`` file: the
slot KDF exporter writes (Argon2id m = 64 MiB, t = 3, p = 4, the default; scrypt n = 2^17,
r = 8, p = 1), timed on this machine through ``exporter.keys``' own unlock path.

Prints the median and range of ``--runs`` derivations of each, and the guesses per second
per core that follow (docs/design.md, "Passphrase policy and the cost of a guess").

    .venv/bin/python bench/kdf.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from exporter.errors import WrongKey
from exporter.keys import ARGON2ID_DEFAULT, SCRYPT_DEFAULT, KeySlots, MasterKey, Passphrase


def _time_guess(kdf: dict[str, object], runs: int) -> list[float]:
    """Seconds per wrong guess against a slot made with ``kdf`` (the KDF runs, the check
    value differs: exactly an attacker's loop)."""
    with TemporaryDirectory() as tmp:
        slots = KeySlots.new(Path(tmp) / "a.db.keys", "bench-archive")
        slots.add_passphrase(MasterKey.generate(), "correct horse battery staple", kdf=kdf)
        samples = []
        for i in range(runs):
            started = time.perf_counter()
            try:
                slots.unlock(Passphrase.of(f"wrong guess number {i}"))
            except WrongKey:
                pass
            samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPU(s); {args.runs} wrong guesses per KDF")
    for label, kdf in (("argon2id m=64MiB t=3 p=4", ARGON2ID_DEFAULT),
                       ("scrypt n=2^17 r=8 p=1", SCRYPT_DEFAULT)):
        samples = _time_guess(dict(kdf), args.runs)
        median = statistics.median(samples)
        print(f"{label}: median {median:.3f} s per guess (min {min(samples):.3f}, "
              f"max {max(samples):.3f}); {1 / median:.1f} guesses/s per core")
        # no target: the higher, the better for the archive's owner
        print(f"BENCH kdf.{label.split()[0]}_seconds_per_guess {median:.3f} s -")


if __name__ == "__main__":
    main()
