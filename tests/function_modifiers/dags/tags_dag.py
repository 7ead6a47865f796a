"""@tag, @tag_outputs, @schema.output (Hamilton-written)."""

from __future__ import annotations

import pandas as pd
from hamilton.function_modifiers import config, extract_fields, schema, tag, tag_outputs


@tag(owner="team-a", priority="high", **{"team.area": "billing"})
def tagged(x: int) -> int:
    return x


@tag(kind="field", target_="f1")
@tag(everywhere="yes", target_=...)
@extract_fields({"f1": int, "f2": int})
def fields_tagged(x: int) -> dict:
    return {"f1": x, "f2": x + 1}


@tag(sink="yes")
@extract_fields({"g1": int, "g2": int})
def sinks_tagged(x: int) -> dict:
    return {"g1": x, "g2": x + 1}


@tag_outputs(o1={"which": "first"}, o2={"which": "second", "extra": "x"})
@extract_fields({"o1": int, "o2": int})
def outputs_tagged(x: int) -> dict:
    return {"o1": x, "o2": -x}


@schema.output(("a", "int"), ("b", "float"))
def schema_frame(x: int) -> pd.DataFrame:
    return pd.DataFrame({"a": [x], "b": [float(x)]})


@tag(values=["a", "b"])
def list_tagged(x: int) -> int:
    return x * 3


@tag(stage="chosen")
@config.when(mode="on")
def configured__on(x: int) -> int:
    return x
