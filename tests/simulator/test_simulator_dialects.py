"""Each dongle dialect on the wire, as research notes §4.1/§4.2 describe it.

The expectation table below is written from the notes, not from the simulator's own table:
single-stack RL7023 Stick-D/IPS and BP35A1 print no SIDE token and end EINFO with FFFE;
dual-stack RL7023 Stick-D/DSS, BP35C2 and RS-WSUHA-P print SIDE, take one more argument to
SKSCAN/SKSENDTO, and add an RSSI token with SA2 1.  ROPT/WOPT are CR-only product commands;
DSS has neither (nor SKAPPVER); BP35C2-based dongles print binary payloads until WOPT 01.
"""

from __future__ import annotations

import pytest

from services.simulator.harness import ErxUdp, epandescs

EXPECT = {
    # name: (dual stack, factory ROPT answer or None when absent, SKAPPVER exists)
    "rl7023-ips": (False, None, True),
    "bp35a1": (False, "01", True),
    "rl7023-dss": (True, None, False),
    "bp35c2": (True, "00", True),
    "rs-wsuha-p": (True, "00", True),
}
DIALECTS = sorted(EXPECT)


@pytest.fixture
def start(start):
    """``start(dialect, *args)``: the dialect first, as every test here names one."""
    return lambda dialect, *args: start(*args, dialect=dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_echo_version_and_einfo(start, dialect):
    dual, _, has_appver = EXPECT[dialect]
    probe = start(dialect).probe()
    # Echo is on from the factory: each command comes back before its answer.
    items = probe.command("SKVER")
    assert items[0] == "SKVER" and items[1].startswith("EVER ") and items[2] == "OK"
    items = probe.command("SKINFO")
    einfo = items[1].split()
    assert einfo[0] == "EINFO" and len(einfo) == 6
    assert einfo[5] == ("0" if dual else "FFFE")  # momonga and our radio detect by this
    assert probe.command("SKAPPVER")[-1] == ("OK" if has_appver else "FAIL ER04")
    assert probe.command("SKSREG SFE 0") == ["SKSREG SFE 0", "OK"]
    assert probe.command("SKSREG SFE") == ["ESREG 0", "OK"]  # no echo any more
    assert probe.command("SKFOO") == ["FAIL ER04"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_product_commands_are_cr_only(start, dialect):
    _, factory, _ = EXPECT[dialect]
    probe = start(dialect).probe()
    probe.command("SKSREG SFE 0")
    probe.write(b"ROPT\r")
    if factory is None:
        assert probe.read_until(b"\r\n") == b"FAIL ER04\r\n"
        return
    assert probe.read_until(b"\r", timeout=2) == f"OK {factory}\r".encode()
    probe.write(b"WOPT 01\r")
    assert probe.read_until(b"\r") == b"OK\r"
    probe.write(b"ROPT\r")
    assert probe.read_until(b"\r") == b"OK 01\r"
    assert not probe.drain(0.2), "a CR-only answer was followed by an LF"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_argument_counts(start, dialect):
    dual, _, _ = EXPECT[dialect]
    probe = start(dialect).probe()
    probe.command("SKSREG SFE 0")
    wrong_scan = "SKSCAN 2 FFFFFFFF 6" + ("" if dual else " 0")
    assert probe.command(wrong_scan) == ["FAIL ER05"]
    assert probe.command("SKJOIN") == ["FAIL ER05"]
    assert probe.command("SKJOIN FE80:0000:0000:0000:021D:1290:1234:5678 0") == ["FAIL ER05"]
    # SKSENDTO in the other family's form: the data is consumed, the answer is ER05.
    probe.meter_ip = "FE80:0000:0000:0000:021D:1290:1234:5678"
    probe.dual_stack = not dual
    probe.sendto(b"\x10\x81\r\n\x00\x01")
    assert probe.lines_until("OK") == ["FAIL ER05"]
    assert probe.command("SKVER")[-1] == "OK"  # the parser is back in step


@pytest.mark.parametrize("dialect", DIALECTS)
def test_session_lines_carry_side_and_rssi(start, dialect):
    dual, factory, _ = EXPECT[dialect]
    sim = start(dialect)
    probe = sim.probe(binary=factory == "00")
    items = probe.join()
    assert items[-1].split()[:2] == ["EVENT", "25"]
    assert len(items[-1].split()) == (4 if dual else 3)  # EVENT 25 <addr> [<side>]
    (pan,) = epandescs(probe.command(probe.scan_command(), until="EVENT 22"))
    assert ("Side" in pan) == dual
    assert list(pan)[-1] == "PairID" and pan["PairID"] == "CCDDEEFF"

    answer = probe.get(0xE7, tid=7)
    assert answer.properties[0].epc == 0xE7
    probe.command("SKSREG SA2 1")
    probe.rssi = dual  # single-stack firmware takes SA2 and prints no RSSI
    probe.sendto(bytes.fromhex("1081000805FF010288016201E700"))
    items = probe.lines_until("OK")
    assert items[-2].split() == (
        ["EVENT", "21", probe.meter_ip, "0", "00"]
        if dual
        else ["EVENT", "21", probe.meter_ip, "00"]
    )
    erxudp = probe.read_item()
    assert isinstance(erxudp, ErxUdp)
    assert len(erxudp.tokens) == (10 if dual else 8)  # DATA not counted
    if dual:
        assert 0 < int(erxudp.tokens[6], 16) <= 0xFF  # RSSI/LQI, 2 hex digits
        assert erxudp.tokens[8] == "0"  # SIDE: B-route


@pytest.mark.parametrize("dialect", ["bp35c2", "rs-wsuha-p", "bp35a1"])
def test_binary_payloads_containing_crlf_until_wopt_01(start, dialect):
    args = ("--wopt", "binary") if dialect == "bp35a1" else ()
    sim = start(dialect, *args)
    probe = sim.probe(binary=True)
    probe.join()
    # TID 0D0A puts CR LF inside the answer's bytes; it must come out whole by DATALEN.
    answer = probe.get(0xE7, 0xE0, tid=0x0D0A)
    assert answer.tid == 0x0D0A and [p.epc for p in answer.properties] == [0xE7, 0xE0]
    probe.write(b"WOPT 01\r")
    assert probe.read_until(b"\r") == b"OK\r"
    probe.binary = False
    assert probe.get(0xE7, tid=0x0D0A).tid == 0x0D0A
    assert sim.control.status()["binary_payloads"] is False


@pytest.mark.parametrize("dialect", ["rl7023-ips", "bp35c2"])
def test_sendto_with_and_without_trailing_crlf(start, dialect):
    sim = start(dialect, "--wopt", "ascii")
    probe = sim.probe()
    probe.join()
    frame = bytes.fromhex("1081000305FF010288016201E700")
    probe.sendto(frame, trailing_crlf=True)
    assert probe.answer(3).properties[0].epc == 0xE7
    probe.sendto(frame.replace(b"\x00\x03", b"\x00\x04", 1))
    assert probe.answer(4).properties[0].epc == 0xE7
    # Echo on: SKSENDTO's echo is the header only, ending in its space, then CRLF.
    probe.command("SKSREG SFE 1")
    probe.sendto(frame)
    echo = probe.read_item()
    assert isinstance(echo, str) and echo.startswith("SKSENDTO 1 ") and echo.endswith(" 000E ")


def test_sksendto_without_session_and_skterm_without_session(start):
    probe = start("rl7023-ips").probe()
    probe.command("SKSREG SFE 0")
    assert probe.command("SKTERM") == ["FAIL ER10"]
    assert probe.command("SKREJOIN") == ["FAIL ER10"]
    assert probe.command("SKSETPWD 5 0123456789AB") == ["FAIL ER06"]  # length mismatch
    assert probe.command("SKLL64 001D129012345678", until="FE80") == [
        "FE80:0000:0000:0000:021D:1290:1234:5678"
    ]
