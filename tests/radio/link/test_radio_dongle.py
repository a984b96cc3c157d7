"""Setting up a dongle: echo off, dialect from SKINFO + ROPT, the state each driver needs
(SA2, WOPT checked and rarely written, echo), credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import load_config
from common.paths import Paths
from services.radio.condition import RadioFault
from services.radio.link.dialect import DIALECTS, detect
from services.radio.link.dongle import (
    BUILTIN,
    KEILOG,
    WOPT_WRITES_PER_DAY,
    DongleState,
    WoptLedger,
    configure,
)
from services.radio.timing import Timing
from tests.support.radio_harness import PASSWORD, RBID, Wire

FAST = Timing().scaled(0.1)
EINFO_SINGLE = (
    b"EINFO FE80:0000:0000:0000:021D:1290:12AB:CDEF 001D129012ABCDEF 21 FFFF FFFE\r\nOK\r\n"
)
EINFO_DUAL = b"EINFO FE80:0000:0000:0000:021D:1290:12AB:CDEF 001D129012ABCDEF 21 FFFF 0\r\nOK\r\n"


def config(tmp_path: Path, model: str = "auto"):
    paths = Paths(tmp_path, tmp_path / "settings.yml", tmp_path / ".env", tmp_path / "run",
                  tmp_path / "lib", tmp_path / "log")  # fmt: skip
    paths.config_file.write_text(f"dongle:\n  model: {model}\n")
    paths.env_file.write_text(f"BROUTE_ID={RBID}\nBROUTE_PASSWORD={PASSWORD}\n")
    return load_config(paths, {"SERIAL_PORT": "simulator"})


def script(
    w: Wire,
    einfo: bytes,
    ropt: bytes | None,
    wopt: bytes | None = None,
    sa2: bool = False,
    state: DongleState = BUILTIN,
):
    """What the dongle answers, in order; ``wopt`` is what ROPT says after WOPT 01."""
    w.dongle.reply(b"SKSREG SFE 0\r\n", b"SKSREG SFE 0\r\nOK\r\n")  # the last echo
    w.dongle.reply(b"SKVER\r\n", b"EVER 1.2.10\r\nOK\r\n")
    w.dongle.reply(b"SKINFO\r\n", einfo)
    w.dongle.reply(b"ROPT\r", ropt if ropt is not None else b"FAIL ER04\r\n")
    if wopt is not None:
        w.dongle.reply(b"WOPT 01\r", b"OK\r")
        w.dongle.reply(b"ROPT\r", wopt)
    if sa2:
        w.dongle.reply(f"SKSREG SA2 {int(state.rssi)}\r\n".encode(), b"OK\r\n")
    w.dongle.reply(f"SKSETPWD C {PASSWORD}\r\n".encode(), b"OK\r\n")
    w.dongle.reply(f"SKSETRBID {RBID}\r\n".encode(), b"OK\r\n")
    if state.echo:
        w.dongle.reply(b"SKSREG SFE 1\r\n", b"OK\r\n")


@pytest.mark.parametrize(
    ("einfo", "ropt", "name"),
    [(EINFO_SINGLE, None, "rl7023-ips"), (EINFO_SINGLE, b"OK 01\r", "bp35a1"),
     (EINFO_DUAL, None, "rl7023-dss"), (EINFO_DUAL, b"OK 00\r", "bp35c2")],
)  # fmt: skip
def test_dialect_is_read_off_the_wire(tmp_path, einfo, ropt, name):
    with Wire() as w:
        script(w, einfo, ropt, sa2=DIALECTS[name].dual_stack)
        info = configure(w.t, config(tmp_path), FAST)
    assert info.dialect.name == name and info.detected
    assert info.mac == "001D129012ABCDEF"
    assert info.binary_payload == {None: None, b"OK 01\r": False, b"OK 00\r": True}[ropt]


def test_raw_payloads_are_left_alone_when_the_driver_reads_them(tmp_path):
    with Wire() as w:
        script(w, EINFO_DUAL, b"OK 00\r", sa2=True)
        info = configure(w.t, config(tmp_path), FAST)
        assert info.binary_payload is True
    assert not (tmp_path / "lib" / "radio-dongle.json").exists()


def test_wopt_is_written_and_checked_for_a_driver_that_reads_hex_only(tmp_path):
    cfg = config(tmp_path)
    with Wire() as w:
        script(w, EINFO_DUAL, b"OK 00\r", wopt=b"OK 01\r", sa2=True, state=KEILOG)
        assert configure(w.t, cfg, FAST, KEILOG).binary_payload is False
    ledger = WoptLedger(tmp_path / "lib" / "radio-dongle.json")
    assert ledger.written("001D129012ABCDEF")
    with Wire() as w:  # kept: nothing written
        script(w, EINFO_DUAL, b"OK 01\r", sa2=True, state=KEILOG)
        assert configure(w.t, cfg, FAST, KEILOG).binary_payload is False
        assert b"WOPT" not in w.dongle.heard
    assert len(ledger.writes_today("001D129012ABCDEF")) == 1


def test_a_dongle_that_forgot_wopt_is_written_again_but_not_without_end(tmp_path):
    cfg = config(tmp_path)
    ledger = WoptLedger(tmp_path / "lib" / "radio-dongle.json")
    for _ in range(WOPT_WRITES_PER_DAY):  # back to raw after every power cycle
        with Wire() as w:
            script(w, EINFO_DUAL, b"OK 00\r", wopt=b"OK 01\r", sa2=True, state=KEILOG)
            assert configure(w.t, cfg, FAST, KEILOG).binary_payload is False
    assert len(ledger.writes_today("001D129012ABCDEF")) == WOPT_WRITES_PER_DAY
    with Wire() as w, pytest.raises(RadioFault) as info:
        script(w, EINFO_DUAL, b"OK 00\r", sa2=True, state=KEILOG)
        configure(w.t, cfg, FAST, KEILOG)
    assert b"WOPT" not in w.dongle.heard
    assert info.value.cause == "dongle-not-responding"
    assert "dongle.driver: builtin" in str(info.value)
    later = WoptLedger(ledger.path, clock=lambda: ledger.clock() + 86401)
    assert later.writes_today("001D129012ABCDEF") == []  # a day later it may be written again


def test_a_dongle_that_does_not_take_wopt_is_named(tmp_path):
    with Wire() as w, pytest.raises(RadioFault) as info:
        script(w, EINFO_DUAL, b"OK 00\r", wopt=b"OK 00\r", sa2=True, state=KEILOG)
        configure(w.t, config(tmp_path), FAST, KEILOG)
    assert "still prints raw payloads after WOPT 01" in str(info.value)


@pytest.mark.parametrize(("einfo", "dual"), [(EINFO_DUAL, True), (EINFO_SINGLE, False)])
def test_keilog_state_is_set_explicitly(tmp_path, einfo, dual):
    """SA2 0 on dual-stack (keilog's DSS parser takes no RSSI token), echo on at the end,
    no SKRESET (its effect on the registers is unsettled)."""
    with Wire() as w:
        script(w, einfo, None, sa2=dual, state=KEILOG)
        info = configure(w.t, config(tmp_path), FAST, KEILOG)
        assert info.dialect.dual_stack is dual
        sent = bytes(w.dongle.transcript)
    assert b"SKRESET" not in sent and b"SA2 1" not in sent
    assert sent.endswith(b"SKSREG SFE 1\r\n")
    assert (b"SKSREG SA2 0\r\n" in sent) is dual


def test_dongle_model_overrides(tmp_path):
    with Wire() as w:
        script(w, EINFO_SINGLE, None, sa2=True)
        info = configure(w.t, config(tmp_path, "rs-wsuha-p"), FAST)
    assert info.dialect.name == "rs-wsuha-p" and not info.detected


def test_silent_dongle_is_named(tmp_path):
    with Wire() as w, pytest.raises(RadioFault) as info:
        configure(w.t, config(tmp_path), FAST)
    assert info.value.cause == "dongle-not-responding"


def test_detection_table():
    assert detect([], has_ropt=False).name == "rl7023-ips"
    assert detect(["EINFO", "ip", "mac", "21", "FFFF", "1"], has_ropt=True).name == "bp35c2"


def test_a_ledger_in_its_first_form_is_read(tmp_path):
    path = tmp_path / "radio-dongle.json"
    path.write_text('{"wopt_written": ["001D129012ABCDEF"]}')
    ledger = WoptLedger(path)
    assert ledger.written("001D129012ABCDEF") and ledger.writes_today("001D129012ABCDEF") == []
    ledger.record("001D129012ABCDEF")
    assert len(ledger.writes_today("001D129012ABCDEF")) == 1
    assert ledger.written("001D129012ABCDEF")
