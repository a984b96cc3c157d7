"""Every fault the simulator offers, switched from a test: what the host sees when it is on.

Faults are switched through the control socket (``SimulatorControl``) while the simulator
runs, or with ``--fault`` at start; both paths are exercised here.
"""

from __future__ import annotations

import os
import time

import pytest
import serial

from services.simulator.control import ControlError
from services.simulator.harness import PASSWORD, ErxUdp, RunningSimulator, SkProbe, epandescs

E7_GET = bytes.fromhex("1081000105FF010288016201E700")


def joined(sim: RunningSimulator) -> SkProbe:
    probe = sim.probe()
    assert probe.join()[-1].startswith("EVENT 25")
    assert isinstance(probe.read_item(), ErxUdp)  # the instance-list INF
    return probe


def send_e7(probe: SkProbe) -> list:
    """SKSENDTO a Get of E7: the lines up to OK, then whatever follows within 0.25 s."""
    probe.sendto(E7_GET)
    return probe.lines_until("OK") + probe.drain(0.25)


def answers(items: list) -> list[ErxUdp]:
    return [i for i in items if isinstance(i, ErxUdp)]


def test_wrong_password_and_auth_fail(start):
    sim = start("--password", "ZZZZZZZZZZZZ")
    assert sim.probe().join()[-1].startswith("EVENT 24")
    sim = start()
    probe = sim.probe()
    sim.control.fault("auth-fail")
    assert probe.join()[-1].startswith("EVENT 24")
    sim.control.clear("auth-fail")
    assert probe.command(f"SKJOIN {probe.meter_ip}", until="EVENT 25")[-1].startswith("EVENT 25")


def test_a_fault_from_the_command_line_with_a_count(start):
    sim = start("--fault", "auth-fail:count=1")
    probe = sim.probe()
    assert probe.join()[-1].startswith("EVENT 24")
    assert probe.command(f"SKJOIN {probe.meter_ip}", until="EVENT 25")[-1].startswith("EVENT 25")
    assert "auth-fail" not in sim.control.status()["faults"]


def test_no_pan_in_range(start):
    sim = start("--fault", "no-pan")
    probe = sim.probe()
    probe.command("SKSREG SFE 0")
    items = probe.command(probe.scan_command(), until="EVENT 22")
    assert items[0] == "OK" and items[-1].startswith("EVENT 22") and len(items) == 2


def test_several_pans_with_other_pair_ids(start):
    sim = start("--fault", "extra-pans")
    probe = sim.probe()
    probe.command("SKSREG SFE 0")
    probe.command(f"SKSETPWD C {PASSWORD}")
    probe.command("SKSETRBID 00112233445566778899AABBCCDDEEFF")
    pans = epandescs(probe.command(probe.scan_command(), until="EVENT 22"))
    assert len({p["PairID"] for p in pans}) == len(pans) >= 3
    ours = [p for p in pans if p["PairID"] == "CCDDEEFF"]
    assert len(ours) == 1
    best = max(pans, key=lambda p: int(p["LQI"], 16))
    assert best is not ours[0], "a neighbour should be heard better than our meter"
    probe.command(f"SKSREG S2 {best['Channel']}")
    probe.command(f"SKSREG S3 {best['Pan ID']}")
    ip = probe.command(f"SKLL64 {best['Addr']}", until="FE80")[-1]
    assert probe.command(f"SKJOIN {ip}", until="EVENT 24")[-1].startswith("EVENT 24")


def test_event_21_param_01_and_missing_event_21(start):
    sim = start()
    probe = joined(sim)
    sim.control.fault("tx-fail", count=1)
    items = send_e7(probe)
    assert items[0] == f"EVENT 21 {probe.meter_ip} 01" and not answers(items)
    sim.control.fault("no-tx-event", count=1)
    items = send_e7(probe)
    assert items[0] == "OK" and len(answers(items)) == 1
    sim.control.fault("ns-on-send", count=1)
    items = send_e7(probe)
    assert [str(i).split()[1] for i in items[:3]] == ["21", "02", "21"]
    assert items[0].endswith(" 02") and items[2].endswith(" 00")


def test_dropped_and_slow_responses(start):
    sim = start()
    probe = joined(sim)
    sim.control.fault("drop-responses", count=1)
    assert not answers(send_e7(probe))
    assert len(answers(send_e7(probe))) == 1
    sim.control.fault("slow", seconds=0.8)
    probe.sendto(E7_GET)
    probe.lines_until("OK")
    sent = time.monotonic()
    assert isinstance(probe.read_item(timeout=3), ErxUdp)
    assert time.monotonic() - sent >= 0.7


def test_garbage_between_lines(start):
    sim = start()
    probe = joined(sim)
    sim.control.fault("garbage")
    probe.write(b"SKVER\r\n")
    raw = probe.read_until(b"OK\r\n")
    lines = raw.split(b"\r\n")
    assert any(line and not line.isascii() for line in lines), raw
    assert b"EVER " in raw
    sim.control.clear("garbage")
    assert probe.command("SKVER") == ["EVER 1.2.10", "OK"]


def test_reauthentication_ends_in_25_or_24(start):
    sim = start()
    probe = joined(sim)
    sim.control.do("reauth")
    assert probe.read_item() == f"EVENT 29 {probe.meter_ip}"
    assert probe.read_item() == f"EVENT 25 {probe.meter_ip}"
    assert answers(send_e7(probe))
    sim.control.do("reauth", result="fail")
    assert probe.lines_until("EVENT 24")[0] == f"EVENT 29 {probe.meter_ip}"
    assert not answers(send_e7(probe))  # no session: nothing reaches the meter


def test_session_lifetime_runs_in_meter_time(start):
    # Ten meter minutes of lifetime at 600x: EVENT 29 about a second after the join.
    sim = start("--session-lifetime", "600", "--time-scale", "600", "--fault", "reauth-fail")
    probe = joined(sim)
    items = probe.lines_until("EVENT 24", timeout=4)
    assert [i for i in items if isinstance(i, str)][-2:] == [
        f"EVENT 29 {probe.meter_ip}",
        f"EVENT 24 {probe.meter_ip}",
    ]


def test_peer_ends_the_session(start):
    sim = start()
    probe = joined(sim)
    sim.control.do("peer-term")
    assert probe.read_item() == f"EVENT 26 {probe.meter_ip}"
    assert probe.command("SKTERM") == ["FAIL ER10"]
    with pytest.raises(ControlError):
        sim.control.do("peer-term")


def test_transmit_time_limit_window(start):
    sim = start()
    probe = joined(sim)
    sim.control.fault("tx-limit")
    assert probe.read_item().startswith("EVENT 32 ")
    items = send_e7(probe)
    assert items[0].endswith(" 01") and not answers(items)
    sim.control.clear("tx-limit")
    assert probe.read_item().startswith("EVENT 33 ")
    assert answers(send_e7(probe))
    # With `seconds` the window closes by itself.
    sim.control.fault("tx-limit", seconds=0.3)
    assert probe.read_item().startswith("EVENT 32 ")
    assert probe.read_item(timeout=3).startswith("EVENT 33 ")


def test_epandesc_after_event_22(start):
    sim = start("--fault", "late-epandesc")
    probe = sim.probe()
    probe.command("SKSREG SFE 0")
    items = probe.command(probe.scan_command(), until="EVENT 22")
    assert "EPANDESC" not in items and items[1].startswith("EVENT 20")
    late = probe.drain(0.5)
    assert late[0] == "EPANDESC" and epandescs(late)[0]["Pan ID"] == "8CF5"


def test_meter_replaced_so_the_cached_join_fails(start):
    sim = start()
    probe = joined(sim)
    old = probe.meter_ip
    new = sim.control.do("replace-meter")["meter"]
    assert new["ip"] != old
    items = send_e7(probe)
    assert items[0] == f"EVENT 21 {old} 01" and not answers(items)  # nobody there to ACK
    assert probe.command(f"SKJOIN {old}", until="EVENT 24")[-1].startswith("EVENT 24")
    pan = probe.scan()
    assert (int(pan["Channel"], 16), int(pan["Pan ID"], 16)) == (new["channel"], new["pan_id"])
    probe.command(f"SKSREG S2 {pan['Channel']}")
    probe.command(f"SKSREG S3 {pan['Pan ID']}")
    probe.meter_ip = probe.command(f"SKLL64 {pan['Addr']}", until="FE80")[-1]
    assert probe.command(f"SKJOIN {probe.meter_ip}", until="EVENT 25")[-1].startswith("EVENT 25")
    assert probe.get(0xE7).properties[0].epc == 0xE7


def test_usb_unplug_gives_eio_and_the_link_comes_back(start):
    sim = start()
    probe = joined(sim)
    old_pty = os.readlink(sim.link)
    sim.control.fault("unplug")
    # A hung-up tty, as usb-serial leaves it: reads see end-of-file (pyserial: "device
    # reports readiness to read but returned no data"), writes fail with EIO.
    with pytest.raises(serial.SerialException, match="disconnected"):
        probe.port.read(1)
    with pytest.raises(serial.SerialException, match="Errno 5"):
        probe.port.write(b"SKVER\r\n")
    assert not sim.link.exists()
    sim.control.clear("unplug")  # plugged back in
    deadline = time.monotonic() + 5
    while not sim.link.exists():
        assert time.monotonic() < deadline, "the link never came back"
        time.sleep(0.05)
    assert os.readlink(sim.link) != old_pty
    fresh = sim.probe()
    assert fresh.command("SKVER")[0] == "SKVER"  # powered up again: echo is back on
    assert fresh.join()[-1].startswith("EVENT 25")


def test_hung_dongle_reads_nothing_and_answers_nothing(start):
    sim = start()
    probe = joined(sim)
    sim.control.fault("hang")
    probe.write(b"SKVER\r\n")
    assert probe.drain(0.5) == []
    sim.control.clear("hang")
    assert probe.command("SKVER") == ["EVER 1.2.10", "OK"]


def test_skterm_race_timeout_and_no_measurement(start):
    sim = start("--fault", "term-race:seconds=5", "--fault", "term-timeout")
    probe = joined(sim)
    assert probe.command("SKTERM", until="EVENT 28")[-1] == f"EVENT 28 {probe.meter_ip}"
    assert probe.command(f"SKJOIN {probe.meter_ip}", until="EVENT 24")[-1].startswith("EVENT 24")
    sim.control.clear("term-race")
    assert probe.command(f"SKJOIN {probe.meter_ip}", until="EVENT 25")[-1].startswith("EVENT 25")
    sim.control.fault("no-energy")
    assert probe.get(0xE0, tid=5).properties[0].edt == bytes.fromhex("FFFFFFFE")


def test_control_refuses_what_it_does_not_know(start):
    sim = start()
    with pytest.raises(ControlError, match="unknown fault"):
        sim.control.fault("gremlins")
    with pytest.raises(ControlError, match="no parameter"):
        sim.control.fault("hang", seconds=3)
    with pytest.raises(ControlError, match="unknown action"):
        sim.control.do("explode")
    assert sim.control.status()["faults"] == {}
