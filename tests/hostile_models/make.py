"""Write the hostile model corpus: bundles (model.skops + model.json) that try to run code, or
to exhaust memory, when iterate loads or uses them. tests/test_hostile_models.py runs this
into a temporary folder (nothing binary is committed) from a good bundle it has just trained:

    make(base_bundle, out_folder, markers_folder) -> {case: bundle folder}

Every payload, if it ever ran, would create a file in ``markers_folder``; the tests assert that
the folder stays empty. Each case's model.json is updated to the hostile file's SHA-256, as an
attacker who can commit would do, except ``tampered_model_json``, whose model.json alone is
updated (the registry still names the good file). The numpy-eval gadget uses
``numpy.f2py.crackfortran.myeval``, which calls ``eval`` on its first argument.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import io
import json
import operator
import os
import pickle
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.f2py import crackfortran
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

BOMB_BYTES = 300 * 2**20  # unpacked size of the decompression bomb (~300 KiB packed)
HUGE_ROWS = 10**11  # rows the huge array's header declares (800 GB of float64)


class Exec:
    """Pickles as ``builtins.exec(code)``: what a plain pickle runs when it is unpickled."""

    def __init__(self, code: str):
        self.code = code

    def __reduce__(self):
        return builtins.exec, (self.code,)


def touch(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def json_node(value) -> dict:
    return {"__class__": type(value).__name__, "__module__": "builtins",
            "__loader__": "JsonNode", "content": json.dumps(value), "is_json": True}


def call_node(module: str, name: str, *args) -> dict:
    """A skops node that calls ``module.name(*args)`` while the file is loaded."""
    return {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
            "content": {"__class__": "tuple", "__module__": "builtins",
                        "__loader__": "TupleNode", "content": [json_node(a) for a in args]}}


class Base:
    """The good bundle the cases are made from: its bytes, members and pipeline."""

    def __init__(self, folder: Path):
        import skops.io as sio

        self.folder = folder
        self.data = (folder / "model.skops").read_bytes()
        with zipfile.ZipFile(io.BytesIO(self.data)) as archive:
            self.members = {name: archive.read(name) for name in archive.namelist()}
        self.pipeline = sio.loads(self.data, trusted=sio.get_untrusted_types(data=self.data))
        self.frame = None  # rows to fit a front step on, set by make()

    def schema(self) -> dict:
        return json.loads(self.members["schema.json"])

    def archive(self, members: dict[str, bytes]) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            for name, content in members.items():
                archive.writestr(name, content)
        return out.getvalue()

    def calling(self, node: dict) -> bytes:
        """The good file with ``node`` as the Pipeline's ``memory`` (built while loading)."""
        schema = self.schema()
        schema["content"]["content"]["memory"] = node
        return self.archive({**self.members, "schema.json": json.dumps(schema).encode()})

    def front(self, func: Callable) -> bytes:
        """The good pipeline behind a FunctionTransformer(func), a real skops dump: func runs
        on the input rows when the model is used."""
        import skops.io as sio

        step = FunctionTransformer(func=func).fit(self.frame)
        return sio.dumps(Pipeline([("gadget", step), *self.pipeline.steps]))


def bomb(base: Base, marker: Path) -> bytes:
    """A member that inflates to BOMB_BYTES of zeros, behind a valid array header."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (BOMB_BYTES // 8,)})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in base.members.items():
            if name != "0.npy":
                archive.writestr(name, content)
        info = zipfile.ZipInfo("0.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w", force_zip64=True) as member:
            member.write(header.getvalue())
            chunk = bytes(2**20)
            for _ in range(BOMB_BYTES // len(chunk)):
                member.write(chunk)
    return out.getvalue()


def huge_array(base: Base, marker: Path) -> bytes:
    """An array whose header declares HUGE_ROWS rows but that holds one."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (HUGE_ROWS,)})
    return base.archive({**base.members, "0.npy": header.getvalue() + bytes(8)})


def numpy_eval(base: Base, marker: Path) -> bytes:
    return base.front(functools.partial(crackfortran.myeval, f"{touch(marker)} or 0", {}))


CASES: dict[str, Callable[[Base, Path], bytes]] = {
    "plain_pickle": lambda base, marker: pickle.dumps(Exec(touch(marker))),
    "os_system": lambda base, marker: base.calling(call_node("os", "system",
                                                             f"touch '{marker}'")),
    "builtins_eval": lambda base, marker: base.calling(call_node("builtins", "eval",
                                                                 touch(marker))),
    "builtins_exec": lambda base, marker: base.calling(call_node("builtins", "exec",
                                                                 touch(marker))),
    "builtins_open": lambda base, marker: base.calling(call_node("builtins", "open",
                                                                 str(marker), "w")),
    "numpy_eval_gadget": numpy_eval,
    "partial_of_numpy_save": lambda base, marker: base.front(
        functools.partial(np.save, str(marker))),
    "operator_methodcaller": lambda base, marker: base.front(
        operator.methodcaller("to_csv", str(marker))),
    "operator_attrgetter_chain": lambda base, marker: base.front(
        operator.attrgetter("to_csv.__self__.to_csv")),
    "decompression_bomb": bomb,
    "huge_array": huge_array,
}


def make(base_folder: Path, out: Path, markers: Path, frame) -> dict[str, Path]:
    """Write each case of CASES, and ``tampered_model_json``, as ``out/<case>/``."""
    base = Base(base_folder)
    base.frame = frame
    markers.mkdir(parents=True, exist_ok=True)
    meta = json.loads((base_folder / "model.json").read_text())
    folders = {}
    for case, build in [*CASES.items(), ("tampered_model_json", numpy_eval)]:
        data = build(base, markers / case)
        folder = out / case
        folder.mkdir(parents=True)
        (folder / "model.skops").write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        (folder / "model.json").write_text(json.dumps({**meta, "sha256": sha}, indent=2))
        reference = base_folder / "reference.parquet"
        if reference.is_file():
            shutil.copy2(reference, folder / reference.name)
        folders[case] = folder
    assert not os.listdir(markers), "making the corpus ran a payload"
    return folders
