"""``raydynamo status`` renders storage nodes with their hosts, nodes back on an empty
directory, heals in progress, and partitions (``cli.render_status``)."""

from __future__ import annotations

from raydynamo.cli import render_status


def test_status_shows_hosts_empty_directories_and_heals() -> None:
    status = {
        "cluster_id": "c0ffee",
        "nodes": [
            {"node_id": "sn1", "alive": True, "host": "h1", "replicas": 2, "leaders": 1},
            {"node_id": "sn0", "alive": True, "host": "h0", "directory_lost": True},
            {"node_id": "sn2", "alive": False, "host": "h2"},
        ],
        "heals": [
            {"group_id": "t.0", "lost": "sn2", "replacement": "sn3", "step": "remove"},
            {"group_id": "t.1", "lost": "sn0", "replacement": "sn0", "step": "add"},
        ],
        "tables": [
            {
                "table": "Music",
                "status": "ACTIVE",
                "items": 3,
                "partitions": [
                    {
                        "partition_id": "t.0",
                        "leader": "sn1",
                        "members": ["sn0", "sn1", "sn2"],
                        "healthy": False,
                        "zones_distinct": True,
                        "note": "",
                    }
                ],
            }
        ],
    }
    text = render_status(status)
    lines = text.splitlines()
    assert lines[0] == "cluster c0ffee"
    assert [line.split()[0] for line in lines[2:5]] == ["sn0", "sn1", "sn2"]
    assert "EMPTY" in lines[2] and "host h0" in lines[2]
    assert "up" in lines[3] and "DOWN" in lines[4]
    assert "t.0          sn2 -> sn3  step remove" in text
    assert "t.1          sn0 rejoins  step add" in text
    assert "DEGRADED" in text and "hosts distinct" in text
