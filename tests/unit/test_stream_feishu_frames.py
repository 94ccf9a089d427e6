"""bot/stream/feishu.py's pbbp2.Frame codec against lark-oapi's generated protobuf classes (the
SDK's own, an implementation independent of ours): each reads what the other writes."""

from __future__ import annotations

import pytest
from lark_oapi.ws.pb.pbbp2_pb2 import Frame as LarkFrame

from bot.stream.feishu import Frame, decode_frame, encode_frame


def lark_frame(**fields) -> LarkFrame:
    f = LarkFrame()
    f.SeqID, f.LogID, f.service, f.method = 0, 0, 0, 0
    for key, value in fields.items():
        if key == "headers":
            for k, v in value:
                h = f.headers.add()
                h.key, h.value = k, v
        else:
            setattr(f, key, value)
    return f


EXAMPLES = [
    Frame(service=7, method=0, headers=[("type", "ping")]),
    Frame(
        seq_id=2**40 + 3,
        log_id=99,
        service=123456,
        method=1,
        headers=[
            ("type", "event"),
            ("message_id", "ev-1"),
            ("sum", "2"),
            ("seq", "1"),
            ("trace_id", "t-ü"),
        ],
        payload_encoding="json",
        payload_type="event",
        payload='{"text":"我的任务"}'.encode(),
        log_id_new="log-9",
    ),  # fmt: skip
    Frame(service=-5, method=1, payload=b"\x00\x01\xff"),
]


@pytest.mark.parametrize("frame", EXAMPLES)
def test_lark_reads_what_we_write(frame):
    theirs = LarkFrame()
    theirs.ParseFromString(encode_frame(frame))
    assert (theirs.SeqID, theirs.LogID, theirs.service, theirs.method) == (
        frame.seq_id, frame.log_id, frame.service, frame.method,
    )  # fmt: skip
    assert [(h.key, h.value) for h in theirs.headers] == frame.headers
    assert theirs.payload == frame.payload and theirs.payload_encoding == frame.payload_encoding
    assert theirs.payload_type == frame.payload_type and theirs.LogIDNew == frame.log_id_new


@pytest.mark.parametrize("frame", EXAMPLES)
def test_we_read_what_lark_writes(frame):
    fields = {
        "SeqID": frame.seq_id, "LogID": frame.log_id, "service": frame.service,
        "method": frame.method, "headers": frame.headers, "payload": frame.payload,
        "payload_encoding": frame.payload_encoding, "payload_type": frame.payload_type,
        "LogIDNew": frame.log_id_new,
    }  # fmt: skip
    raw = lark_frame(**{k: v for k, v in fields.items() if v or k in ("SeqID", "LogID")})
    assert decode_frame(raw.SerializeToString()) == frame


@pytest.mark.parametrize(
    "raw",
    [b"\x08", b"\x2a\x05ab", b"\x0f", b"\x2a\x02\x08\x01", b"\x08" + b"\xff" * 11],
    ids=["cut varint", "cut field", "wire type 7", "header key not a string", "long varint"],
)
def test_malformed_frames_raise_value_error(raw):
    with pytest.raises(ValueError):
        decode_frame(raw)
