"""Framed pickles over a pipe: how a runner and its sending processes talk (``processes.py``).

A frame is a 4-byte big-endian length and a pickle. Both ends are this program, started by the same
user, so pickle is safe here; it is never used for anything read from elsewhere.
"""

from __future__ import annotations

import pickle
import struct
from typing import IO, Any

_LENGTH = struct.Struct(">I")


def write(stream: IO[bytes], item: Any) -> None:
    """One frame, flushed (call under the stream's lock when several threads write)."""
    data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def read(stream: IO[bytes]) -> Any:
    """The next frame's item; EOFError when the other end has gone (a torn frame included)."""
    head = _exactly(stream, _LENGTH.size)
    return pickle.loads(_exactly(stream, _LENGTH.unpack(head)[0]))


def _exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if data is None or len(data) < size:
        raise EOFError("the other end closed the pipe")
    return data
