"""The reliability campaign: the abuse a user and an attacker would put the tool through,
run against the real CLI and the sandbox cloud, as one repeatable program.

    python -m reliability --short            # a few minutes; part of `make test`
    python -m reliability --long --seed 7    # the release campaign (`make reliability`)

Families (each its own module): kills, tamper, malformed, resources, concurrency,
canaries. Every case is drawn from ``--seed`` and its number, so a failure saved under
``reliability-failures/`` is replayed with the command printed beside it. Nothing in
``exporter`` imports this package.
"""
