"""Deterministic simulation and exhaustive model checking of the pure consensus core.

``python -m raydynamo.sim run`` runs seeded randomized worlds (``world.py``) with the invariants of
``checker.py``; ``python -m raydynamo.sim check`` explores every interleaving of a small
configuration (``model_check.py``). Pure: no ray, no rocksdict.
"""
