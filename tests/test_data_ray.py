"""``raydynamo.data`` on a real local Ray with the service running: Ray Data over tables.

A 20,000-row dataset of every DynamoDB type is written with ``write_table``, read back with
``read_table`` (at least one read task per partition) and written into a second table: both
tables hold exactly the items the rows describe. ``raydynamo export`` / ``import`` round-trip a
table through Parquet files. Bad input gets DynamoDB's errors from ``read_table``,
``write_table`` and the commands, never a Ray traceback.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from raydynamo.api.errors import ResourceNotFoundException, ValidationException
from raydynamo.api.schema import KeySchema
from raydynamo.data import TableDatasink, TableDatasource, read_table, write_table
from raydynamo.data.arrow import infer_plan, items_to_table
from tests.test_data_arrow import canonical, every_type_item

pytestmark = pytest.mark.ray

KEY = KeySchema("pk", "S", "sk", "N")
ROWS = 20_000


def new_table(client: Any) -> str:
    name = f"data-{uuid.uuid4().hex[:10]}"
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
    return name


def table_items(client: Any, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
        items.extend(page["Items"])
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["N"]))


def dataset_of(items: list[dict[str, Any]], blocks: int) -> Any:
    import ray.data

    plan = infer_plan(items, KEY)
    size = -(-len(items) // blocks)
    tables = [items_to_table(items[i : i + size], plan) for i in range(0, len(items), size)]
    return ray.data.from_arrow(tables)


def expected(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(canonical(items), key=lambda item: (item["pk"]["S"], item["sk"]["N"]))


def test_a_20000_row_dataset_round_trips_exactly(service: Any, client: Any) -> None:
    items = [every_type_item(i) for i in range(ROWS)]
    source, copy = new_table(client), new_table(client)
    written = write_table(dataset_of(items, blocks=8), source, config=service)
    assert written["items"] == ROWS
    assert table_items(client, source) == expected(items)

    datasource = TableDatasource.for_table(source, config=service)
    plan = datasource.plan
    assert plan.partitions == 2
    assert len(datasource.get_read_tasks(1)) == plan.partitions  # one task per partition
    assert len(datasource.get_read_tasks(5)) == 3 * plan.partitions  # more: a multiple
    dataset = read_table(source, config=service, override_num_blocks=4)
    materialized = dataset.materialize()
    assert materialized.count() == ROWS
    assert materialized.num_blocks() >= plan.partitions
    materialized.write_datasink(TableDatasink.for_table(copy, config=service))
    assert table_items(client, copy) == expected(items)


def _config_file(service: Any, tmp_path: Path) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(service.model_dump(mode="json")))
    return str(path)


def test_export_and_import_round_trip_through_parquet(
    service: Any, client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from raydynamo.cli import main

    items = [every_type_item(i) for i in range(500)]
    source, target = new_table(client), new_table(client)
    write_table(dataset_of(items, blocks=2), source, config=service)
    config = _config_file(service, tmp_path)
    assert main(["export", source, str(tmp_path / "out"), "--config", config]) == 0
    assert list((tmp_path / "out").glob("*.parquet"))
    assert main(["import", str(tmp_path / "out"), target, "--config", config]) == 0
    assert "imported 500 items" in capsys.readouterr().out
    assert table_items(client, target) == expected(items)


def test_commands_refuse_bad_input_with_dynamodb_errors(
    service: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from raydynamo.cli import main

    config = _config_file(service, tmp_path)
    assert main(["export", "NoSuchTable", str(tmp_path / "x"), "--config", config]) == 1
    err = capsys.readouterr().err
    assert "ResourceNotFoundException" in err and "Traceback" not in err
    assert main(["import", str(tmp_path / "missing"), "NoSuchTable", "--config", config]) == 2
    (tmp_path / "empty").mkdir()
    pa_table = pa.table({"pk": ["a"], "sk": [1]})
    import pyarrow.parquet as pq

    pq.write_table(pa_table, tmp_path / "empty" / "part.parquet")
    assert main(["import", str(tmp_path / "empty"), "NoSuchTable", "--config", config]) == 1
    assert "ResourceNotFoundException" in capsys.readouterr().err


def _assert_plain(err: BaseException) -> None:
    text = str(err)
    assert "Ray" not in text and "Traceback" not in text and "pid" not in text


def test_read_and_write_refuse_bad_input(service: Any, client: Any) -> None:
    import ray.data

    with pytest.raises(ResourceNotFoundException) as missing:
        read_table("NoSuchTable", config=service)
    _assert_plain(missing.value)
    with pytest.raises(ValidationException, match="tableName"):
        read_table("x", config=service)
    rows = ray.data.from_items([{"pk": "a", "sk": 1}])
    with pytest.raises(ResourceNotFoundException):
        write_table(rows, "NoSuchTable", config=service)
    name = new_table(client)
    with pytest.raises(ValidationException, match="Missing the key sk in the item") as no_key:
        write_table(ray.data.from_items([{"pk": "a"}]), name, config=service)
    _assert_plain(no_key.value)
    null_key = ray.data.from_arrow(pa.table({"pk": ["a", None], "sk": [1, 2]}))
    with pytest.raises(ValidationException, match="does not match the schema") as row_err:
        write_table(null_key, name, config=service)
    _assert_plain(row_err.value)
    wrong_type = ray.data.from_items([{"pk": 5, "sk": 1}])
    with pytest.raises(ValidationException, match="does not match the schema"):
        write_table(wrong_type, name, config=service)
    empty_key = ray.data.from_items([{"pk": "", "sk": 1}])
    with pytest.raises(ValidationException, match="empty string value"):
        write_table(empty_key, name, config=service)
    times = ray.data.from_arrow(
        pa.table({"pk": ["a"], "sk": [1], "at": pa.array([1], pa.timestamp("s"))})
    )
    with pytest.raises(ValidationException, match="column at"):
        write_table(times, name, config=service)


def test_an_empty_table_reads_as_an_empty_dataset_with_its_key_columns(
    service: Any, client: Any
) -> None:
    dataset = read_table(new_table(client), config=service)
    assert dataset.count() == 0
    assert dataset.schema().names == ["pk", "sk", "_dynamodb_json"]


def test_a_provisioned_table_is_written_within_its_capacity(service: Any, client: Any) -> None:
    name = f"data-{uuid.uuid4().hex[:10]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 40},
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2})
    sink = TableDatasink.for_table(name, config=service)
    tasks = service.data.write_tasks_max
    assert sink.units_per_task_s == 40 * service.data.write_capacity_share / tasks
    on_demand = TableDatasink.for_table(new_table(client), config=service)
    assert on_demand.units_per_task_s is None
