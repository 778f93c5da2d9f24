"""Table catalog, partition maps and placement decisions (pure: no ray, no rocksdict).

``tables`` (descriptions, responses, ``TableCatalog``; CreateTable validation from
``create_table``, member-constraint wording from ``constraints``), ``sizing`` (initial partition
counts), ``placement`` (group members and replacements), ``partition_map`` (key-hash ranges).
"""
