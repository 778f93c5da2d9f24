"""Table catalog, partition maps and placement decisions (pure: no ray, no rocksdict)."""
