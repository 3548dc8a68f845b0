"""The MJPEG parser over a real socket, fed streams in the shapes cameras actually send.

Hypothesis varies the boundary (with or without the declared "--"), quoting, parts with
and without Content-Length, extra part headers, junk before the first boundary, and how
the bytes are cut into TCP writes; every frame must come out whole and in order.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.camera import MjpegHttpSource

FRAMES = [
    cv2.imencode(".jpg", np.full((16, 24, 3), (40 * i, 255 - 40 * i, 90), np.uint8))[1].tobytes()
    for i in range(4)
]
DECODED = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR) for f in FRAMES]

part_shapes = st.tuples(
    st.booleans(),  # Content-Length given
    st.sampled_from(
        ["", "X-Timestamp: 123\r\n", "Content-Type: image/jpeg\r\n", "content-type: image/jpeg\r\n"]
    ),
    st.sampled_from(["\r\n", "", "\r\n\r\n"]),  # what the camera puts after the payload
)


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, int]:
    name = draw(st.from_regex(r"[A-Za-z0-9'()+_,./:=?]{1,20}", fullmatch=True))
    declared = draw(st.sampled_from([name, "--" + name]))
    quoted = draw(st.booleans())
    shown = f'"{declared}"' if quoted else declared
    head = (
        f"HTTP/1.1 200 OK\r\nServer: cam\r\nContent-Type: multipart/x-mixed-replace; boundary={shown}\r\n\r\n"
    ).encode()
    body = draw(st.sampled_from([b"", b"\r\n", b"preamble text\r\n"]))
    count = draw(st.integers(1, len(FRAMES)))
    for i in range(count):
        with_length, extra, trailer = draw(part_shapes)
        if not with_length and not trailer:
            trailer = "\r\n"  # without a length, the payload must end with a line break
        length = f"Content-Length: {len(FRAMES[i])}\r\n" if with_length else ""
        body += f"--{name}\r\n{extra}{length}\r\n".encode() + FRAMES[i] + trailer.encode()
    body += f"--{name}\r\n".encode()  # the next part's boundary ends a length-less payload
    return head + body, count


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams(), cuts=st.lists(st.integers(1, 400), min_size=1, max_size=8))
def test_every_frame_comes_out_whole(stream: tuple[bytes, int], cuts: list[int]) -> None:
    data, count = stream
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(2.0)
    port = listener.getsockname()[1]

    done = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):
            conn.recv(4096)  # the request
            pos = 0
            for n, size in enumerate(cuts * (len(data) // sum(cuts) + 1)):
                if pos >= len(data):
                    break
                conn.sendall(data[pos : pos + size])
                pos += size
                if n % 16 == 0:
                    time.sleep(0.0005)  # let some writes arrive as separate segments
            done.wait(3.0)  # keep the connection open, as a live camera does

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    source = MjpegHttpSource(f"http://127.0.0.1:{port}/video", open_timeout=2.0, read_timeout=0.3)
    try:
        source.open()
        for i in range(count):
            raw = source.read()
            expected = DECODED[i]
            assert expected is not None and np.array_equal(raw.image, expected), f"frame {i}"
    finally:
        done.set()
        source.close()
        listener.close()
        thread.join(timeout=3.0)
