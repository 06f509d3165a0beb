"""Envelope encryption: round trips, tamper and context checks, rotation, key parsing, dev keys."""

from __future__ import annotations

import base64
import dataclasses
import os
import stat
import sys
import traceback
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.crypto import DecryptionError, Keyring, Sealed, dev_keyring

KEY_1 = Keyring.generate_key_line("k1")
KEY_2 = Keyring.generate_key_line("k2")
RECORD = b'{"name": "Amelia Hartley-Okonkwo", "nhs_number": "9434765919"}'
CONTEXT = b"record:0b7c6a52-31f4-4b8e-9d0e-1f2a3b4c5d6e"


def key_bytes(line: str) -> bytes:
    return base64.urlsafe_b64decode(line.partition(":")[2])


def flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def test_seal_then_open_returns_the_plaintext() -> None:
    keyring = Keyring.parse(KEY_1)

    sealed = keyring.seal(RECORD, CONTEXT)

    assert sealed.key_id == "k1"
    assert keyring.open(sealed, CONTEXT) == RECORD


def test_ciphertext_does_not_contain_the_plaintext() -> None:
    sealed = Keyring.parse(KEY_1).seal(RECORD, CONTEXT)

    stored = sealed.wrapped_key + sealed.ciphertext
    assert b"Amelia" not in stored
    assert b"Hartley" not in stored
    assert b"9434765919" not in stored


def test_each_blob_gets_its_own_data_key_and_nonces() -> None:
    keyring = Keyring.parse(KEY_1)

    first = keyring.seal(RECORD, CONTEXT)
    second = keyring.seal(RECORD, CONTEXT)

    assert first.ciphertext != second.ciphertext
    assert first.ciphertext[:12] != second.ciphertext[:12]
    assert first.wrapped_key != second.wrapped_key
    assert first.wrapped_key[:12] != second.wrapped_key[:12]


def test_empty_plaintext_round_trips() -> None:
    keyring = Keyring.parse(KEY_1)

    assert keyring.open(keyring.seal(b"", CONTEXT), CONTEXT) == b""


@pytest.mark.parametrize("field", ["ciphertext", "wrapped_key"])
def test_changing_any_byte_is_detected(field: str) -> None:
    keyring = Keyring.parse(KEY_1)
    sealed = keyring.seal(RECORD, CONTEXT)
    original: bytes = getattr(sealed, field)

    for position in range(len(original)):
        tampered = dataclasses.replace(sealed, **{field: flip(original, position)})
        with pytest.raises(DecryptionError, match="'k1'"):
            keyring.open(tampered, CONTEXT)


@pytest.mark.parametrize("field", ["ciphertext", "wrapped_key"])
def test_truncated_or_extended_blobs_are_detected(field: str) -> None:
    keyring = Keyring.parse(KEY_1)
    sealed = keyring.seal(RECORD, CONTEXT)
    original: bytes = getattr(sealed, field)

    for changed in (original[:-1], original + b"\x00", original[:5], b""):
        with pytest.raises(DecryptionError):
            keyring.open(dataclasses.replace(sealed, **{field: changed}), CONTEXT)


def test_a_blob_moved_to_another_row_does_not_open() -> None:
    keyring = Keyring.parse(KEY_1)
    sealed = keyring.seal(RECORD, b"record:1")

    with pytest.raises(DecryptionError, match="another context"):
        keyring.open(sealed, b"record:2")


def test_ciphertext_spliced_onto_another_rows_wrapped_key_does_not_open() -> None:
    keyring = Keyring.parse(KEY_1)
    first = keyring.seal(RECORD, CONTEXT)
    second = keyring.seal(RECORD, CONTEXT)

    with pytest.raises(DecryptionError):
        keyring.open(dataclasses.replace(first, ciphertext=second.ciphertext), CONTEXT)


def test_relabelled_key_id_does_not_open() -> None:
    keyring = Keyring.parse(f"{KEY_1},{KEY_2}")
    sealed = keyring.seal(RECORD, CONTEXT)

    with pytest.raises(DecryptionError, match="'k2'"):
        keyring.open(dataclasses.replace(sealed, key_id="k2"), CONTEXT)


def test_rotation_rewraps_the_data_key_and_leaves_the_ciphertext_alone() -> None:
    old = Keyring.parse(KEY_1).seal(RECORD, CONTEXT)
    rotating = Keyring.parse(f"{KEY_2},{KEY_1}")

    assert rotating.active_key_id == "k2"
    assert rotating.open(old, CONTEXT) == RECORD
    rewrapped = rotating.rewrap(old, CONTEXT)

    assert rewrapped.key_id == "k2"
    assert rewrapped.ciphertext == old.ciphertext
    assert rewrapped.wrapped_key != old.wrapped_key
    only_new = Keyring.parse(KEY_2)
    assert only_new.open(rewrapped, CONTEXT) == RECORD
    with pytest.raises(DecryptionError, match="'k1'") as raised:
        only_new.open(old, CONTEXT)
    assert "does not hold" in str(raised.value)


def test_rewrap_under_the_active_key_returns_the_same_blob() -> None:
    keyring = Keyring.parse(f"{KEY_2},{KEY_1}")
    sealed = keyring.seal(RECORD, CONTEXT)

    assert keyring.rewrap(sealed, CONTEXT) is sealed


def test_rewrap_checks_the_context() -> None:
    old = Keyring.parse(KEY_1).seal(RECORD, b"record:1")

    with pytest.raises(DecryptionError):
        Keyring.parse(f"{KEY_2},{KEY_1}").rewrap(old, b"record:2")


def test_parse_reads_ids_in_order_with_the_first_active() -> None:
    keyring = Keyring.parse(f" {KEY_2} , {KEY_1}\n")

    assert keyring.active_key_id == "k2"
    assert keyring.key_ids == ("k2", "k1")


def test_parse_accepts_standard_and_unpadded_base64() -> None:
    key = os.urandom(32)
    standard = base64.b64encode(key).decode()
    unpadded = base64.urlsafe_b64encode(key).decode().rstrip("=")
    sealed = Keyring.parse(f"a:{standard}").seal(RECORD, CONTEXT)

    assert Keyring.parse(f"a:{unpadded}").open(sealed, CONTEXT) == RECORD


def test_generated_key_lines_hold_32_fresh_bytes() -> None:
    line = Keyring.generate_key_line("2025-06.primary")

    assert line.startswith("2025-06.primary:")
    assert len(key_bytes(line)) == 32
    assert key_bytes(line) != key_bytes(Keyring.generate_key_line("2025-06.primary"))


@pytest.mark.parametrize("key_id", ["", "x" * 33, "has space", "a|b", "café"])
def test_generate_key_line_rejects_bad_ids(key_id: str) -> None:
    with pytest.raises(ValueError, match="key id must be"):
        Keyring.generate_key_line(key_id)


SECRET = base64.b64encode(b"S" * 31).decode()  # decodes fine but is one byte short
SECRET_LONG = base64.b64encode(b"S" * 33).decode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no encryption keys configured"),
        ("   ", "no encryption keys configured"),
        (f"k1:{SECRET}!!", r"key entry 1 \('k1'\): the key is not valid base64"),
        (f"k1:{SECRET}", r"key entry 1 \('k1'\): the key must be 32 bytes, not 31"),
        (f"{KEY_1},k2:{SECRET_LONG}", r"key entry 2 \('k2'\): the key must be 32 bytes, not 33"),
        (f"{KEY_1},{KEY_2},{KEY_1}", r"key entry 3: the key id 'k1' is used more than once"),
        (f"{KEY_1},", "key entry 2 is empty"),
        (SECRET, "key entry 1 is not of the form 'kid:base64'"),
        (f"bad id:{SECRET}", "key entry 1: the key id must be"),
        ("k1:", r"key entry 1 \('k1'\): the key must be 32 bytes, not 0"),
    ],
)
def test_parse_errors_name_the_entry_and_never_the_key(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        Keyring.parse(text)

    shown = str(raised.value)
    for secret in (SECRET, SECRET_LONG, KEY_1.partition(":")[2], KEY_2.partition(":")[2]):
        assert secret[:8] not in shown


def test_parse_does_not_echo_key_material_put_where_the_id_goes() -> None:
    material = KEY_1.partition(":")[2]

    with pytest.raises(ValueError, match="key entry 1") as raised:
        Keyring.parse(f"{material}:k1")

    shown = "".join(traceback.format_exception(raised.value))
    assert material[:8] not in shown


def test_repr_shows_ids_not_keys() -> None:
    keyring = Keyring.parse(f"{KEY_1},{KEY_2}")

    assert repr(keyring) == "Keyring(key_ids=('k1', 'k2'))"


def test_dev_keyring_creates_a_private_key_file_once(tmp_path: Path) -> None:
    path = tmp_path / "data" / "exchange.key"

    first = dev_keyring(path)
    contents = path.read_text()
    second = dev_keyring(path)

    assert path.read_text() == contents
    assert first.key_ids == second.key_ids == ("dev",)
    assert second.open(first.seal(RECORD, CONTEXT), CONTEXT) == RECORD
    assert [p.name for p in path.parent.iterdir()] == ["exchange.key"]
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_dev_keyring_reads_an_existing_key_line(tmp_path: Path) -> None:
    path = tmp_path / "exchange.key"
    path.write_text(KEY_1 + "\n")

    keyring = dev_keyring(path)

    assert keyring.key_ids == ("k1",)
    assert Keyring.parse(KEY_1).open(keyring.seal(RECORD, CONTEXT), CONTEXT) == RECORD


def test_dev_keyring_names_an_unusable_file(tmp_path: Path) -> None:
    path = tmp_path / "exchange.key"
    path.write_text("")

    with pytest.raises(ValueError, match=r"exchange\.key is not usable"):
        dev_keyring(path)


KEYRING = Keyring.parse(KEY_1)


@given(plaintext=st.binary(max_size=4096), context=st.binary(max_size=128))
def test_open_inverts_seal(plaintext: bytes, context: bytes) -> None:
    sealed = KEYRING.seal(plaintext, context)

    assert isinstance(sealed, Sealed)
    assert KEYRING.open(sealed, context) == plaintext
