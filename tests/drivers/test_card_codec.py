"""Property tests for the card codecs: APDU, BER-TLV, identity record, vpcd framing."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.card.apdu import (
    ApduError,
    CommandApdu,
    ResponseApdu,
    StatusWordError,
    Tlv,
    decode_tlv,
    encode_tlv,
    sw_name,
)
from drivers.card.application import Identity, RecordError
from simulators.card.vpcd import FrameDecoder, encode_frame

byte = st.integers(0, 255)

commands = st.builds(
    CommandApdu,
    cla=byte,
    ins=byte,
    p1=byte,
    p2=byte,
    data=st.binary(max_size=255),
    le=st.none() | st.integers(1, 256),
)


# deadline=None throughout: on the shared 2-core machine one example can stall past
# hypothesis's 200 ms default for reasons that are not the code (scheduling, GC).
@settings(deadline=None)
@given(commands)
def test_command_apdu_round_trip(apdu: CommandApdu) -> None:
    assert CommandApdu.decode(apdu.encode()) == apdu


@settings(deadline=None)
@given(st.binary(max_size=256), st.integers(0, 0xFFFF))
def test_response_apdu_round_trip(data: bytes, sw: int) -> None:
    response = ResponseApdu(data, sw)
    assert ResponseApdu.decode(response.encode()) == response


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_apdu_decoders(raw: bytes) -> None:
    for decode in (CommandApdu.decode, ResponseApdu.decode):
        with contextlib.suppress(ApduError):
            decode(raw)


def test_apdu_errors_name_the_field_and_rule() -> None:
    with pytest.raises(ApduError, match="data must be at most 255 bytes"):
        CommandApdu(0, 0xB0, 0, 0, bytes(256))
    with pytest.raises(ApduError, match="body of 3 bytes does not match Lc=5"):
        CommandApdu.decode(bytes.fromhex("00A4040005AABB"))
    with pytest.raises(ApduError, match="2-byte status word"):
        ResponseApdu.decode(b"\x90")


def _primitive_tag() -> st.SearchStrategy[int]:
    one = st.integers(0x01, 0xFE).filter(lambda b: b & 0x20 == 0 and b & 0x1F != 0x1F)
    two = st.tuples(st.sampled_from([0x5F, 0x9F, 0xDF]), st.integers(0x01, 0x7F)).map(
        lambda t: t[0] << 8 | t[1]
    )
    return one | two


def _constructed_tag() -> st.SearchStrategy[int]:
    one = st.integers(0x01, 0xFE).filter(lambda b: b & 0x20 and b & 0x1F != 0x1F)
    two = st.tuples(st.sampled_from([0x3F, 0x7F, 0xBF]), st.integers(0x01, 0x7F)).map(
        lambda t: t[0] << 8 | t[1]
    )
    return one | two


tlvs = st.recursive(
    st.builds(Tlv, _primitive_tag(), st.binary(max_size=300)),
    lambda children: st.builds(
        lambda tag, kids: Tlv(tag, children=tuple(kids)), _constructed_tag(), st.lists(children, max_size=4)
    ),
    max_leaves=12,
)


@settings(deadline=None)
@given(st.lists(tlvs, max_size=5))
def test_tlv_round_trip(items: list[Tlv]) -> None:
    assert decode_tlv(encode_tlv(items)) == tuple(items)


@given(st.binary(max_size=400))
@settings(deadline=None, max_examples=300)
def test_arbitrary_bytes_never_crash_tlv_decoder(raw: bytes) -> None:
    with contextlib.suppress(ApduError):
        decode_tlv(raw)


def test_tlv_rejects_deep_nesting_and_bad_lengths() -> None:
    nested = b""
    for _ in range(20):
        nested = bytes((0xE1, len(nested))) + nested
    with pytest.raises(ApduError, match="nested deeper"):
        decode_tlv(nested)
    with pytest.raises(ApduError, match="needs 5 bytes, only 1 left"):
        decode_tlv(bytes.fromhex("8005AA"))
    with pytest.raises(ApduError, match="first byte 00 and FF are padding"):
        encode_tlv(Tlv(0x00, b"x"))


identities = st.builds(
    Identity,
    card_number=st.from_regex(r"[0-9]{8,19}", fullmatch=True),
    document_number=st.from_regex(r"[A-Z0-9()/-]{1,20}", fullmatch=True),
    name=st.text(min_size=1, max_size=80).filter(lambda s: s.isprintable() and s == s.strip()),
    expiry=st.dates(dt.date(2000, 1, 1), dt.date(9999, 12, 31)),
)


@settings(deadline=None)
@given(identities)
def test_identity_record_round_trip(identity: Identity) -> None:
    assert Identity.decode(identity.encode()) == identity


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_identity_decoder(raw: bytes) -> None:
    with contextlib.suppress(ApduError):  # RecordError is an ApduError
        Identity.decode(raw)


def test_identity_rules_name_the_field() -> None:
    with pytest.raises(RecordError, match="card_number must be 8 to 19 digits"):
        Identity("12AB", "K1", "A", dt.date(2030, 1, 1))
    with pytest.raises(RecordError, match="document_number"):
        Identity("12345678", "k 1", "A", dt.date(2030, 1, 1))
    with pytest.raises(RecordError, match="name must be 1 to 80"):
        Identity("12345678", "K1", "", dt.date(2030, 1, 1))
    good = Identity("12345678", "K1", "A", dt.date(2030, 1, 1)).encode()
    with pytest.raises(RecordError, match=r"expiry \(tag 84\) must be a date"):
        Identity.decode(good.replace(b"20300101", b"20301301"))


@settings(deadline=None)
@given(st.lists(st.binary(max_size=600), max_size=8), st.data())
def test_vpcd_frames_survive_any_chunking(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    out: list[bytes] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        out += decoder.feed(stream[last:cut])
        last = cut
    assert out == payloads


@settings(deadline=None)
@given(st.integers(0, 0xFFFF))
def test_every_status_word_has_a_name(sw: int) -> None:
    assert sw_name(sw)
    assert f"{sw:04X}" in str(StatusWordError("READ BINARY", sw))


def test_status_word_names_follow_iso7816() -> None:
    assert sw_name(0x6A82) == "file or application not found"
    assert sw_name(0x6982) == "security condition not satisfied"
    assert sw_name(0x6114) == "20 response bytes still available"
    assert sw_name(0x6C10) == "wrong Le: exact length is 16"
    assert sw_name(0x63C2) == "verification failed, 2 tries left"
