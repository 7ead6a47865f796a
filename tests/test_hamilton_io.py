"""Materializers: ``load_from`` / ``save_to``, ``dataloader`` / ``datasaver``, ``to`` / ``from_``,
``with_materializers`` and ``materialize``, compared with Hamilton where both can run.

File adapters are async: their nodes are ``async def`` reading and writing with aiofiles, so
under ``aexecute`` they run on the event loop and hold no thread. Inside a Parallelizable
block a saver runs per item (one file per item when its path is per item), on every executor.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hamilton import driver as h_driver

from asyncdag import ad_hoc_utils, base, driver
from asyncdag.errors import InvalidDecoratorError
from asyncdag.execution import executors
from asyncdag.io import DataLoader, register_adapter
from asyncdag.io.materialization import from_, to
from tests.hamilton_scripts.shared import per_item

SAVERS = """
import pandas as pd
from {lib}.function_modifiers import dataloader, datasaver, load_from, save_to, source, value


@save_to.json(path=source("json_path"), output_name_="summary_saved")
def summary(rows: pd.DataFrame) -> dict:
    return {{"n": int(len(rows)), "total": int(rows.amount.sum())}}


@save_to.csv(path=source("csv_path"), output_name_="rows_saved")
def rows(raw_rows: pd.DataFrame) -> pd.DataFrame:
    return raw_rows[raw_rows.amount > 0]


@load_from.csv(path=source("csv_in"), sep=value(";"))
def raw_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df


@save_to.pickle(path=source("pickle_path"), output_name_="blob_saved")
def blob(summary: dict) -> object:
    return {{"summary": summary, "kind": "blob"}}


@save_to.file(path=source("text_path"), output_name_="text_saved")
def text(summary: dict) -> str:
    return f"n={{summary['n']}}"


@dataloader()
def settings(settings_path: str) -> tuple[dict, dict]:
    with open(settings_path) as f:
        return {{"lines": f.read().splitlines()}}, {{"path": settings_path}}


@datasaver()
def settings_saved(settings: dict, settings_out: str) -> dict:
    with open(settings_out, "w") as f:
        f.write("|".join(settings["lines"]))
    return {{"where": settings_out}}
"""

OUTPUTS = ["summary_saved", "rows_saved", "blob_saved", "text_saved", "settings_saved"]

REREAD = """
from {lib}.function_modifiers import load_from, source


def saved_path(summary_path: str) -> str:
    return summary_path


@load_from.json(path=source("saved_path"))
def reread(data: dict) -> dict:
    return data
"""


def _inputs(where: Path) -> dict[str, str]:
    where.mkdir(parents=True, exist_ok=True)
    (where / "in.csv").write_text("name;amount\na;3\nb;-1\nc;5\n")
    (where / "settings.txt").write_text("x\ny\n")
    return {
        "csv_in": str(where / "in.csv"),
        "json_path": str(where / "summary.json"),
        "csv_path": str(where / "rows.csv"),
        "pickle_path": str(where / "blob.pkl"),
        "text_path": str(where / "text.txt"),
        "settings_path": str(where / "settings.txt"),
        "settings_out": str(where / "settings.out"),
    }


def _files(where: Path) -> dict[str, Any]:
    return {
        "summary": json.loads((where / "summary.json").read_text()),
        "rows": (where / "rows.csv").read_text(),
        "blob": pickle.loads((where / "blob.pkl").read_bytes()),
        "text": (where / "text.txt").read_text(),
        "settings": (where / "settings.out").read_text(),
    }


def test_loaders_and_savers_write_what_hamilton_writes(tmp_path: Path) -> None:
    ours_module = ad_hoc_utils.module_from_source(SAVERS.format(lib="asyncdag"))
    theirs_module = ad_hoc_utils.module_from_source(SAVERS.format(lib="hamilton"))
    ours = driver.Builder().with_modules(ours_module).build()
    theirs = h_driver.Builder().with_modules(theirs_module).build()
    got = ours.execute(OUTPUTS, inputs=_inputs(tmp_path / "a"))
    expected = theirs.execute(OUTPUTS, inputs=_inputs(tmp_path / "h"))
    assert _files(tmp_path / "a") == _files(tmp_path / "h")
    again = driver.Builder().with_modules(
        ad_hoc_utils.module_from_source(REREAD.format(lib="asyncdag"))
    )
    reread = again.build().execute(
        ["reread"], inputs={"summary_path": str(tmp_path / "a/summary.json")}
    )
    assert reread == {"reread": {"n": 2, "total": 8}}
    assert expected["summary_saved"].keys() == got["summary_saved"].keys()
    assert got["settings_saved"] == {"where": str(tmp_path / "a" / "settings.out")}
    assert got["summary_saved"]["file_metadata"]["path"] == str(tmp_path / "a" / "summary.json")

    def shape(dr: Any) -> dict[str, Any]:
        return {
            v.name: {k: t for k, t in v.tags.items() if k.startswith("hamilton.data_")}
            for v in dr.list_available_variables()
            if any(k.startswith("hamilton.data_") for k in v.tags)
        }

    assert shape(ours) == shape(theirs)


def test_file_nodes_are_async_and_run_on_the_loop(tmp_path: Path) -> None:
    module = ad_hoc_utils.module_from_source(SAVERS.format(lib="asyncdag"))
    dr = driver.Builder().with_modules(module).build()
    nodes = dr.graph.nodes
    for name in ("summary_saved", "rows_saved", "raw_rows.load_data.df", "blob_saved"):
        assert nodes[name].is_async, name
    got = asyncio.run(dr.aexecute(OUTPUTS, inputs=_inputs(tmp_path)))
    assert got["summary_saved"]["file_metadata"]["size"] > 0
    assert json.loads((tmp_path / "summary.json").read_text()) == {"n": 2, "total": 8}


@pytest.mark.parametrize("kind", ["parquet", "feather", "csv", "pickle"])
def test_pandas_formats_round_trip(kind: str, tmp_path: Path) -> None:
    source = f"""
import pandas as pd
from asyncdag.function_modifiers import load_from, save_to, source


@save_to.{kind}(path=source("out"), output_name_="written")
def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({{"i": list(range(n)), "sq": [i * i for i in range(n)]}})


def written_path(written: dict) -> str:
    return written["file_metadata"]["path"]


@load_from.{kind}(path=source("written_path"))
def again(df: pd.DataFrame) -> pd.DataFrame:
    return df
"""
    dr = driver.Builder().with_modules(ad_hoc_utils.module_from_source(source)).build()
    got = asyncio.run(dr.aexecute(["again", "frame"], inputs={"n": 4, "out": str(tmp_path / "f")}))
    pd.testing.assert_frame_equal(got["again"].reset_index(drop=True), got["frame"])


@pytest.mark.parametrize(
    "remote",
    [
        lambda: executors.SynchronousLocalTaskExecutor(),
        lambda: executors.MultiThreadingExecutor(max_tasks=3),
        lambda: executors.MultiProcessingExecutor(max_tasks=2),
    ],
    ids=["inline", "threads", "processes"],
)
def test_a_saver_in_a_block_writes_one_file_per_item(remote: Any, tmp_path: Path) -> None:
    cities = ["lisbon", "porto", "faro"]
    dr = driver.Builder().with_modules(per_item).with_remote_executor(remote()).build()
    with dr:
        got = dr.execute(["saved"], inputs={"cities": cities, "folder": str(tmp_path)})
    assert got == {"saved": [str(tmp_path / f"{c}.json") for c in cities]}
    for c in cities:
        assert json.loads((tmp_path / f"{c}.json").read_text()) == {"city": c, "letters": len(c)}


MATERIALIZED = """
import pandas as pd


def spend(n: int) -> pd.Series:
    return pd.Series([float(i) for i in range(n)])


def signups(n: int) -> pd.Series:
    return pd.Series([i + 1 for i in range(n)])


def per_signup(spend: pd.Series, signups: pd.Series) -> pd.Series:
    return spend / signups


def report(per_signup: pd.Series) -> dict:
    return {"max": float(per_signup.max())}
"""


def test_materialize_saves_and_loads_as_hamilton_does(tmp_path: Path) -> None:
    from hamilton import base as h_base
    from hamilton.io.materialization import from_ as h_from
    from hamilton.io.materialization import to as h_to

    module = ad_hoc_utils.module_from_source(MATERIALIZED)
    (tmp_path / "spend.json").write_text("[10.0, 20.0, 30.0]")

    def run(lib_to: Any, lib_from: Any, builder: Any, dr: Any, where: Path) -> Any:
        where.mkdir()
        return dr.materialize(
            lib_to.csv(
                id="table_csv",
                dependencies=["spend", "signups", "per_signup"],
                combine=builder,
                path=str(where / "table.csv"),
            ),
            lib_to.json(id="report_json", dependencies=["report"], path=str(where / "r.json")),
            lib_from.pickle(target="signups", path=str(tmp_path / "signups.pkl")),
            additional_vars=["report"],
            inputs={"n": 3},
        )

    (tmp_path / "signups.pkl").write_bytes(pickle.dumps(pd.Series([2, 4, 8])))
    ours_meta, ours_extra = run(
        to,
        from_,
        base.PandasDataFrameResult(),
        driver.Builder().with_modules(module).build(),
        tmp_path / "a",
    )
    theirs_meta, theirs_extra = run(
        h_to,
        h_from,
        h_base.PandasDataFrameResult(),
        h_driver.Builder().with_modules(module).build(),
        tmp_path / "h",
    )
    assert ours_extra == theirs_extra
    assert sorted(ours_meta) == sorted(theirs_meta) == ["report_json", "table_csv"]
    for name in ("table.csv", "r.json"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "h" / name).read_text()


def test_with_materializers_adds_savers_at_build(tmp_path: Path) -> None:
    module = ad_hoc_utils.module_from_source(MATERIALIZED)
    dr = (
        driver.Builder()
        .with_modules(module)
        .with_materializers(
            to.json(id="report_json", dependencies=["report"], path=str(tmp_path / "r.json"))
        )
        .with_adapters(base.DictResult())
        .build()
    )
    meta = dr.execute(["report_json"], inputs={"n": 2})
    assert json.loads((tmp_path / "r.json").read_text()) == {"max": 0.5}
    assert meta["report_json"]["file_metadata"]["path"] == str(tmp_path / "r.json")
    with pytest.raises(InvalidDecoratorError, match="combine="):
        driver.Builder().with_modules(module).with_materializers(
            to.json(id="two", dependencies=["spend", "signups"], path="x.json")
        ).build()


def test_wrong_parameters_and_keys_say_what_is_known() -> None:
    bad = """
from asyncdag.function_modifiers import load_from


@load_from.json(path="x.json", nope=1)
def data(d: dict) -> dict:
    return d
"""
    with pytest.raises(InvalidDecoratorError, match="unknown parameters \\['nope'\\]"):
        driver.Builder().with_modules(ad_hoc_utils.module_from_source(bad)).build()
    from asyncdag.function_modifiers import load_from

    with pytest.raises(AttributeError, match="no loader is registered as 'yaml'"):
        load_from.yaml  # noqa: B018


def test_a_registered_async_loader_runs_on_the_event_loop(tmp_path: Path) -> None:
    import dataclasses

    threads: list[threading.Thread] = []

    @dataclasses.dataclass
    class Upper(DataLoader):
        path: str

        @classmethod
        def applicable_types(cls) -> list[Any]:
            return [str]

        @classmethod
        def name(cls) -> str:
            return "upper_text"

        def load_data(self, type_: Any) -> tuple[str, dict[str, Any]]:
            raise AssertionError("the async method is used")

        async def aload_data(self, type_: Any) -> tuple[str, dict[str, Any]]:
            threads.append(threading.current_thread())
            await asyncio.sleep(0)
            return Path(self.path).read_text().upper(), {}

    register_adapter(Upper)
    (tmp_path / "t.txt").write_text("shout")
    source = """
from asyncdag.function_modifiers import load_from, source


@load_from.upper_text(path=source("p"))
def loud(text: str) -> str:
    return text + "!"
"""
    dr = driver.Builder().with_modules(ad_hoc_utils.module_from_source(source)).build()

    async def main() -> Any:
        return threading.current_thread(), await dr.aexecute(
            ["loud"], inputs={"p": str(tmp_path / "t.txt")}
        )

    loop_thread, got = asyncio.run(main())
    assert got == {"loud": "SHOUT!"}
    assert threads == [loop_thread]
