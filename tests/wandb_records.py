"""Read what an offline wandb run stored: its ``.wandb`` file (a LevelDB-style log of protobuf records).

wandb 0.31 ships no Python reader (its core is in Go), and an offline run writes its config and summary only into
that file, so tests that check what a run carries read it here. Format: a 7-byte header (``:W&B``, magic 0xBEE1,
version), then 32 KiB blocks of chunks ``[crc32 (4), length (2, little-endian), type (1), data]``, type 1 a whole
record, 2/3/4 its first/middle/last part; a block's tail shorter than a chunk header is padding.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

_BLOCK, _HEADER = 32768, 7


def _chunks(data: bytes):
    if data[:4] != b":W&B":
        raise ValueError(f"not a .wandb file (header {data[:7]!r})")
    pos, pending = _HEADER, b""
    while pos + _HEADER <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        if length == 0 and kind == 0:  # zero padding to the end of the block
            pos += left
            continue
        chunk, pos = data[pos + _HEADER : pos + _HEADER + length], pos + _HEADER + length
        if kind == 1:
            yield chunk
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            yield pending + chunk


def read_offline_run(run_folder: Path) -> dict:
    """``{"group": str, "config": {key: value}, "summary": {key: value}}`` of an ``offline-run-*`` folder (the last
    value of each key)."""
    (path,) = Path(run_folder).glob("*.wandb")
    out: dict = {"group": None, "config": {}, "summary": {}}
    for data in _chunks(path.read_bytes()):
        record = pb.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["group"] = record.run.run_group or out["group"]
            items = list(record.run.config.update)
            out["config"].update({item.key: json.loads(item.value_json) for item in items if item.key})
        elif kind == "config":
            out["config"].update({item.key: json.loads(item.value_json) for item in record.config.update if item.key})
        elif kind == "summary":
            out["summary"].update({item.key: json.loads(item.value_json) for item in record.summary.update if item.key})
    return out
