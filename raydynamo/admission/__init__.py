"""Admission control (pure, time passed in): token buckets with burst, the buckets a partition
keeps, and global admission control (GAC) as the ATC'22 paper tells it.

Role: decide whether a request may run now, and charge what it consumed afterwards. The shells
(routers, storage nodes, admission actors) call these with the time they read from their clocks;
nothing here reads a clock, sleeps or imports ray, so the simulator and the tests drive it
deterministically.

Modules: ``buckets`` (one token bucket), ``partition`` (a partition's allocated, burst and
hard-limit buckets, per kind of unit), ``gac`` (the table ledger an admission actor keeps, and the
time-limited tokens a router holds).

Must not import ray, rocksdict, or anything under ``raydynamo.actors``.
"""
