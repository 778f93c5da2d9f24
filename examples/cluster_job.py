"""A job that uses the driver against the service started by ``raydynamo up`` (README, step 4).

    ray job submit --address http://HEAD:8265 -- python examples/cluster_job.py

It runs the boto3-style program of ``boto3_program.py`` against ``raydynamo.connect("auto")``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import raydynamo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from boto3_program import run

if __name__ == "__main__":
    client = raydynamo.connect("auto", config="cluster")
    print(run(client, table="MusicOnCluster"))
