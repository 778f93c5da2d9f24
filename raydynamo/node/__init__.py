"""The storage node core: replicas, one write batch and one fsync per round, outboxes, apply.

Pure (no ray, no threads of its own): the Ray actor in ``actors/`` runs it on a core thread, and
the simulator (``sim/``) runs exactly the same code.
"""
