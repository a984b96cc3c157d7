"""What the dongle keeps across SKRESET and across a power cycle, under each unsettled answer.

Nothing public says whether SKRESET puts the registers (SA2, S02, …) and the echo flag SFE
back to their factory values, nor whether WOPT's payload format is in flash.  Each is a
switch (``--skreset-registers``, ``--skreset-echo``, ``--wopt-memory``, or the control
socket's ``set``); these tests hold the simulator to what each setting promises.  A power
cycle (USB unplug) resets registers and echo under every setting.
"""

from __future__ import annotations

import pytest

from services.simulator.control import ControlError
from services.simulator.harness import ErxUdp, SkProbe


@pytest.fixture
def start(start):
    """``start(dialect, *args)``: the dialect first, as every test here names one."""
    return lambda dialect, *args: start(*args, dialect=dialect)


def register(probe: SkProbe, name: str) -> str:
    """``SKSREG <name>``'s value, echo or not."""
    for item in probe.command(f"SKSREG {name}"):
        if isinstance(item, str) and item.startswith("ESREG "):
            return item.split()[1]
    raise AssertionError(f"no ESREG for {name}")


def reset(probe: SkProbe) -> None:
    assert probe.command("SKRESET")[-1] == "OK"


@pytest.mark.parametrize("registers", ["factory", "keep"])
@pytest.mark.parametrize("echo", ["factory", "keep"])
def test_skreset_puts_back_or_keeps_registers_and_echo(start, registers, echo):
    sim = start("rl7023-dss", "--skreset-registers", registers, "--skreset-echo", echo)
    probe = sim.probe()
    for line in ("SKSREG SFE 0", "SKSREG SA2 1", "SKSREG S2 3A", "SKSREG S16 00000E10"):
        assert probe.command(line)[-1] == "OK"
    reset(probe)
    kept = registers == "keep"
    assert register(probe, "SA2") == ("1" if kept else "0")
    assert register(probe, "S02") == ("3A" if kept else "21")
    assert register(probe, "S16") == ("00000E10" if kept else "00015180")
    assert register(probe, "SFE") == ("0" if echo == "keep" else "1")
    status = sim.control.status()
    assert status["echo"] is (echo == "factory")
    assert status["rssi"] is kept
    assert status["memory"] == {"skreset_registers": registers, "skreset_echo": echo,
                                "wopt_memory": "flash"}  # fmt: skip


@pytest.mark.parametrize("registers", ["factory", "keep"])
def test_an_rssi_token_set_before_skreset_shows_only_when_kept(start, registers):
    """The wire as keilog sees it: with a kept SA2 1, every ERXUDP has eleven tokens."""
    sim = start("rl7023-dss", "--skreset-registers", registers)
    probe = sim.probe()
    probe.command("SKSREG SA2 1")
    reset(probe)
    probe.rssi = registers == "keep"
    probe.join()
    probe.get(0xE7)  # read with the token count the setting implies; a wrong one fails here
    probe.sendto(bytes.fromhex("1081000205FF010288016201E700"))
    answer = next(i for i in probe.drain(1.0) if isinstance(i, ErxUdp))
    assert len(answer.tokens) == (10 if registers == "keep" else 9)  # DATA not counted


@pytest.mark.parametrize("registers", ["factory", "keep"])
def test_skreset_always_ends_the_session_and_forgets_the_credentials(start, registers):
    sim = start("rl7023-ips", "--skreset-registers", registers, "--skreset-echo", "keep")
    probe = sim.probe()
    assert probe.join()[-1].startswith("EVENT 25")
    reset(probe)
    assert sim.control.status()["session"] is None
    probe.write(f"SKJOIN {probe.meter_ip}\r\n".encode())
    assert probe.lines_until("EVENT 25", "EVENT 24", timeout=10)[-1].startswith("EVENT 24")


@pytest.mark.parametrize("memory", ["flash", "ram"])
def test_wopt_across_skreset_and_power(start, memory):
    sim = start("bp35c2", "--wopt-memory", memory, "--skreset-registers", "keep")
    probe = sim.probe()

    def ropt() -> bytes:
        probe.write(b"ROPT\r")
        probe.read_until(b"ROPT\r")  # echo (factory SFE 1)
        return probe.read_until(b"\r")

    def wopt_01() -> None:
        probe.write(b"WOPT 01\r")
        probe.read_until(b"WOPT 01\r")
        assert probe.read_until(b"\r") == b"OK\r"

    assert ropt() == b"OK 00\r"  # BP35C2 leaves the factory printing raw payloads
    wopt_01()
    probe.command("SKSREG SA2 1")
    reset(probe)
    assert ropt() == (b"OK 01\r" if memory == "flash" else b"OK 00\r")
    wopt_01()
    probe.close()
    sim.control.fault("unplug")
    sim.control.clear("unplug")  # power cycle
    probe = sim.probe()
    assert ropt() == (b"OK 01\r" if memory == "flash" else b"OK 00\r")
    # A power cycle puts the registers back whatever SKRESET would have done.
    assert register(probe, "SA2") == "0"
    assert sim.control.status()["binary_payloads"] is (memory == "ram")
    probe.close()


def test_the_settings_change_through_the_control_socket(start):
    sim = start("rl7023-dss")
    assert sim.control.status()["memory"] == {
        "skreset_registers": "factory", "skreset_echo": "factory", "wopt_memory": "flash",
    }  # fmt: skip
    sim.control.set(skreset_registers="keep", wopt_memory="ram")
    assert sim.control.status()["memory"]["skreset_registers"] == "keep"
    probe = sim.probe()
    probe.command("SKSREG SA2 1")
    reset(probe)
    assert sim.control.status()["rssi"] is True
    with pytest.raises(ControlError, match="factory, keep"):
        sim.control.set(skreset_echo="sometimes")
    with pytest.raises(ControlError, match="unknown setting"):
        sim.control.set(skreset_everything="keep")
    assert sim.control.status()["memory"]["skreset_echo"] == "factory"
