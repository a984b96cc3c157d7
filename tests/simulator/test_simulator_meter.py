"""The simulated meter's ECHONET Lite answers, its counters over time, and its history.

Values are decoded here with plain ``int.from_bytes`` arithmetic written from research
notes §4.3/§4.4, not with the simulator's or the logger's code.
"""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timedelta

import pytest

from common.echonet import EOJ_NODE_PROFILE, ESV, Frame, Property
from services.simulator.harness import ErxUdp, RunningSimulator
from services.simulator.meter_model import JST

NO_DATA = 0xFFFFFFFE


def joined(sim: RunningSimulator, **kw):
    probe = sim.probe(**kw)
    probe.join()
    return probe


def edt(frame: Frame, epc: int) -> bytes:
    (prop,) = [p for p in frame.properties if p.epc == epc]
    return prop.edt


def u32(data: bytes) -> int:
    return int.from_bytes(data, "big")


def property_map(data: bytes) -> set[int]:
    if data[0] < 16:
        return set(data[1:])
    return {0x80 + 0x10 * bit + i for i in range(16) for bit in range(8) if data[1 + i] >> bit & 1}


def stamp(data: bytes) -> datetime:
    return datetime(u32(data[:2]), *data[2:6], tzinfo=JST)


def test_property_maps_identification_and_node_profile(start):
    probe = joined(start())
    answer = probe.get(0x9D, 0x9E, 0x9F, 0x80, 0x82, 0x88, 0x8A, 0x8D)
    assert answer.esv == ESV.GET_RES
    get_map = property_map(edt(answer, 0x9F))
    assert {0x80, 0x82, 0x88, 0x8A, 0x8D, 0x9D, 0x9E, 0x9F, 0xD3, 0xD7, 0xE0, 0xE1, 0xE2,
            0xE3, 0xE4, 0xE5, 0xE7, 0xE8, 0xEA, 0xEB, 0xEC, 0xED} <= get_map  # fmt: skip
    assert {0xE5, 0xED} <= property_map(edt(answer, 0x9E))
    assert {0xEA, 0xEB} <= property_map(edt(answer, 0x9D))
    assert edt(answer, 0x80) == b"\x30"
    assert len(edt(answer, 0x82)) == 4 and edt(answer, 0x88) in (b"\x41", b"\x42")
    assert len(edt(answer, 0x8A)) == 3
    assert len(edt(answer, 0x8D)) == 12 and edt(answer, 0x8D).decode("ascii")
    # The node profile speaks for the node: one instance, the smart meter.
    node = Frame(9, 0x05FF01, EOJ_NODE_PROFILE, ESV.GET, (Property(0xD6),))
    probe.sendto(node.encode())
    while not (isinstance(item := probe.read_item(), ErxUdp) and Frame.decode(item.data).tid == 9):
        pass
    reply = Frame.decode(item.data)
    assert reply.seoj == EOJ_NODE_PROFILE and edt(reply, 0xD6) == bytes.fromhex("01028801")


def test_instance_list_inf_follows_the_join(start):
    probe = start().probe()
    items = probe.join()
    assert items[-1].startswith("EVENT 25")
    inf = probe.read_item()
    assert isinstance(inf, ErxUdp) and inf.port == 0x0E1A
    frame = Frame.decode(inf.data)
    assert (frame.seoj, frame.deoj, frame.esv) == (EOJ_NODE_PROFILE, EOJ_NODE_PROFILE, ESV.INF)
    assert edt(frame, 0xD5) == bytes.fromhex("01028801")


def test_several_epcs_per_frame_and_an_unknown_epc(start):
    probe = joined(start())
    answer = probe.get(0xE7, 0xE0, 0xD7, tid=0x1234)
    assert answer.tid == 0x1234 and answer.esv == ESV.GET_RES
    assert [p.epc for p in answer.properties] == [0xE7, 0xE0, 0xD7]
    answer = probe.get(0xE7, 0xF5, tid=2)
    assert answer.esv == ESV.GET_SNA
    assert len(edt(answer, 0xE7)) == 4 and edt(answer, 0xF5) == b""


def test_scaling_properties_and_refused_d3(start):
    sim = start("--coefficient", "10", "--unit", "0.01", "--digits", "8")
    probe = joined(sim)
    answer = probe.get(0xD3, 0xE1, 0xD7, 0xE0)
    assert u32(edt(answer, 0xD3)) == 10
    assert edt(answer, 0xE1) == b"\x02" and edt(answer, 0xD7) == b"\x08"
    raw = u32(edt(answer, 0xE0))
    assert abs(raw * 0.01 * 10 - 12345.6) < 1  # the counter counts units of E1 × D3
    sim.control.fault("refuse-d3")
    answer = probe.get(0xD3, tid=2)
    assert answer.esv == ESV.GET_SNA and edt(answer, 0xD3) == b""
    assert sim.served("D3")[-1]["raw"] is None


def test_energy_counters_integrate_power_over_meter_time(start):
    # Noon in May, an hour of meter time per second: import and export both move.
    sim = start("--time-scale", "7200", "--start", "2026-05-10T09:00:00+09:00",
                "--unit", "0.001", "--digits", "8")  # fmt: skip
    probe = joined(sim)
    samples = []
    for tid in range(1, 30):
        answer = probe.get(0xE7, 0xE0, 0xE3, tid=tid)
        samples.append(tuple(u32(edt(answer, e)) for e in (0xE0, 0xE3)))
    entries = sim.served("E7")
    times = [datetime.fromisoformat(e["meter_time"]) for e in entries]
    powers = [e["decoded"][""] for e in entries]
    hours = [(t - times[0]).total_seconds() / 3600 for t in times]
    net_kwh = sum((powers[i] + powers[i + 1]) / 2 * (hours[i + 1] - hours[i])
                  for i in range(len(hours) - 1)) / 1000  # fmt: skip
    (imp0, exp0), (imp1, exp1) = samples[0], samples[-1]
    for a, b in itertools.pairwise(samples):
        assert a[0] <= b[0] and a[1] <= b[1], "a counter fell"
    counted = ((imp1 - imp0) - (exp1 - exp0)) / 1000
    assert hours[-1] > 1
    # E7 is sampled every few meter minutes, the counters integrate every moment.
    assert abs(counted - net_kwh) < 0.15 * max(1.0, abs(net_kwh)) + 0.3
    if min(powers) < -300:
        assert exp1 > exp0, "the meter exported but E3 did not move"


def test_counter_wraps_at_ten_to_the_effective_digits(start):
    # 03:00 in January: about 250 W, so 0.5 kWh to the wrap takes about two hours of meter
    # time (4 s), a few minutes of which pass while joining.
    sim = start("--digits", "4", "--unit", "0.1", "--import-kwh", "999.5", "--no-solar",
                "--time-scale", "1800", "--start", "2026-01-10T03:00:00+09:00")  # fmt: skip
    probe = joined(sim)
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        seen.append(u32(edt(probe.get(0xE0, tid=len(seen) + 1), 0xE0)))
        if len(seen) > 1 and seen[-1] < seen[-2]:
            break
        time.sleep(0.05)
    assert all(v < 10**4 for v in seen)
    assert seen[0] >= 9950, f"wrapped before the first read: {seen[:3]}"
    assert seen[-1] < seen[-2] and seen[-2] >= 9990, f"no wrap at 10^4: {seen[-5:]}"


@pytest.mark.parametrize("single", [False, True])
def test_current_per_phase_matches_power(start, single):
    sim = start("--single-phase") if single else start()
    probe = joined(sim)
    answer = probe.get(0xE7, 0xE8)
    watts = int.from_bytes(edt(answer, 0xE7), "big", signed=True)
    current = edt(answer, 0xE8)
    r = int.from_bytes(current[:2], "big", signed=True) / 10
    t_raw = int.from_bytes(current[2:], "big")
    if single:
        assert t_raw == 0x7FFE and abs(r * 100 - abs(watts)) <= 10
    else:
        t = t_raw / 10
        assert abs((r + t) * 100 - abs(watts)) <= 20  # 100 V per wire, 1φ3W
    decoded = sim.served("E8")[-1]["decoded"]
    assert decoded["R"] == r and (decoded["T"] is None) == single


def test_fixed_time_energy_is_announced_after_the_half_hour(start):
    # 11:56 meter time, two meter minutes per second: :00 comes 2 s after start (time to
    # join) and the announcement within 5 meter minutes of it.
    sim = start("--time-scale", "120", "--start", "2026-03-02T11:56:00+09:00")
    probe = joined(sim)
    deadline = time.monotonic() + 10
    frame = None
    while time.monotonic() < deadline and frame is None:
        item = probe.read_item(deadline - time.monotonic())
        if isinstance(item, ErxUdp) and Frame.decode(item.data).esv == ESV.INF:
            candidate = Frame.decode(item.data)
            frame = candidate if candidate.seoj == 0x028801 else None
    assert frame is not None, "no INF of EA/EB"
    assert [p.epc for p in frame.properties] == [0xEA, 0xEB]
    assert stamp(edt(frame, 0xEA)) == datetime(2026, 3, 2, 12, 0, tzinfo=JST)
    (entry, *_) = [e for e in sim.served("EA") if e["via"] == "inf"]
    sent = datetime.fromisoformat(entry["meter_time"])
    assert timedelta(0) < sent - datetime(2026, 3, 2, 12, 0, tzinfo=JST) <= timedelta(minutes=5)
    # On request, EA is the same half-hour's count.
    answer = probe.get(0xEA, 0xE0, tid=50)
    assert edt(answer, 0xEA) == edt(frame, 0xEA) or stamp(edt(answer, 0xEA)) > stamp(
        edt(frame, 0xEA)
    )
    assert u32(edt(answer, 0xE0)) >= u32(edt(frame, 0xEA)[7:])


def test_infc_is_recorded_with_its_answer(start):
    sim = start("--notify", "infc")
    probe = joined(sim)
    probe.drain(0.3)  # the instance-list INF
    for answer_it in (True, False):
        assert sim.control.do("notify")["sent"]
        item = probe.read_item()
        assert isinstance(item, ErxUdp)
        infc = Frame.decode(item.data)
        assert infc.esv == ESV.INFC
        if answer_it:
            res = Frame(infc.tid, infc.deoj, infc.seoj, ESV.INFC_RES,
                        tuple(Property(p.epc) for p in infc.properties))  # fmt: skip
            probe.sendto(res.encode())
            probe.lines_until("OK")
    time.sleep(0.2)
    records = sim.control.status()["infc"]
    assert [(r["answered"], r.get("valid")) for r in records] == [(True, True), (False, None)]


def test_day_history_matches_the_counters(start):
    sim = start()
    probe = joined(sim)
    tid = iter(range(1, 100))

    def history(day: int, epc: int) -> list[int]:
        assert probe.request(ESV.SETC, [Property(0xE5, bytes((day,)))], next(tid)).esv == (
            ESV.SET_RES
        )
        data = edt(probe.get(epc, tid=next(tid)), epc)
        assert len(data) == 194 and int.from_bytes(data[:2], "big") == day
        return [u32(data[2 + 4 * i : 6 + 4 * i]) for i in range(48)]

    now = datetime.now(JST)
    today = history(0, 0xE2)
    valid = [v for v in today if v != NO_DATA]
    assert len(valid) == now.hour * 2 + now.minute // 30 + 1  # future slots: no data
    ea = edt(probe.get(0xEA, tid=next(tid)), 0xEA)
    assert u32(ea[7:]) == valid[-1]  # the latest half-hour in E2 is EA
    yesterday = history(1, 0xE2)
    assert NO_DATA not in yesterday and yesterday == sorted(yesterday) and yesterday[-1] <= today[0]
    oldest = history(99, 0xE2)
    assert NO_DATA not in oldest and oldest[-1] <= yesterday[0]
    reverse = history(1, 0xE4)
    assert reverse == sorted(reverse) and NO_DATA not in reverse
    refused = probe.request(ESV.SETC, [Property(0xE5, bytes((100,)))], next(tid))
    assert refused.esv == ESV.SETC_SNA


def test_history_2_reads_back_from_the_time_set_in_ed(start):
    sim = start("--start", "2026-02-10T15:10:00+09:00", "--time-scale", "10")
    probe = joined(sim)
    setting = (2026).to_bytes(2, "big") + bytes((2, 10, 13, 30, 6))
    assert probe.request(ESV.SETC, [Property(0xED, setting)], 1).esv == ESV.SET_RES
    answer = probe.get(0xEC, 0xED, tid=2)
    assert edt(answer, 0xED) == setting
    data = edt(answer, 0xEC)
    assert data[:7] == setting and len(data) == 7 + 6 * 8
    pairs = [(u32(data[7 + 8 * i : 11 + 8 * i]), u32(data[11 + 8 * i : 15 + 8 * i]))
             for i in range(6)]  # fmt: skip
    for direction in (0, 1):  # stepping back 30 minutes each: never more than the one before
        values = [p[direction] for p in pairs]
        assert values == sorted(values, reverse=True)
    # The same half-hours in E2/E4 (today, 13:30 back to 11:00).
    probe.request(ESV.SETC, [Property(0xE5, b"\x00")], 3)
    today = edt(probe.get(0xE2, 0xE4, tid=4), 0xE2)
    e2 = [u32(today[2 + 4 * i : 6 + 4 * i]) for i in range(48)]
    assert [p[0] for p in pairs] == [e2[27 - i] for i in range(6)]
    bad = (2026).to_bytes(2, "big") + bytes((2, 10, 13, 15, 6))  # not a half-hour
    assert probe.request(ESV.SETC, [Property(0xED, bad)], 5).esv == ESV.SETC_SNA


def test_served_log_records_meter_time_apart_from_wall_time(start):
    sim = start("--time-scale", "100", "--start", "2025-12-31T23:00:00+09:00")
    probe = joined(sim)
    answer = probe.get(0xE7, 0xE0)
    e7, e0 = sim.served("E7")[-1], sim.served("E0")[-1]
    assert e7["raw"] == edt(answer, 0xE7).hex().upper() and e7["via"] == "get"
    assert e7["decoded"] == {"": float(int.from_bytes(edt(answer, 0xE7), "big", signed=True))}
    assert e0["decoded"] == {"": pytest.approx(u32(edt(answer, 0xE0)) * 0.1)}
    wall, meter = datetime.fromisoformat(e7["time"]), datetime.fromisoformat(e7["meter_time"])
    assert abs(wall - datetime.now(JST)) < timedelta(seconds=10)
    assert datetime(2025, 12, 31, 23, tzinfo=JST) < meter < datetime(2026, 1, 1, 2, tzinfo=JST)


def test_served_log_is_bounded(tmp_path):
    from datetime import datetime

    from services.simulator.history import Served
    from services.simulator.served_log import ServedLog

    path = tmp_path / "served.jsonl"
    log = ServedLog(path, max_bytes=2000)
    for _ in range(100):
        log.write(0xE7, Served(b"\x00\x00\x01\xf4", {"": 500.0}), datetime.now(), "get")
    log.close()
    assert path.stat().st_size <= 2200
    assert (tmp_path / "served.jsonl.1").stat().st_size <= 2200
    assert not (tmp_path / "served.jsonl.2").exists()


def test_a_first_generation_meter_has_none_of_release_r(start):
    probe = joined(start())
    answer = probe.get(0x9F, 0x9E, 0x82)
    assert not {0xC0, 0xD0, 0xEE, 0xEF} & property_map(edt(answer, 0x9F))
    assert 0xEF not in property_map(edt(answer, 0x9E))
    assert edt(answer, 0x82)[2:3] == b"F"
    answer = probe.get(0xE7, 0xC0, 0xD0, 0xEE, 0xEF, tid=2)
    assert answer.esv == ESV.GET_SNA and len(edt(answer, 0xE7)) == 4
    assert all(edt(answer, e) == b"" for e in (0xC0, 0xD0, 0xEE, 0xEF))
    setting = (2026).to_bytes(2, "big") + bytes((2, 10, 13, 0, 10))
    assert probe.request(ESV.SETC, [Property(0xEF, setting)], 3).esv == ESV.SETC_SNA


def test_a_second_generation_meter_has_c0_d0_and_minute_history(start):
    # A meter hour every 6 s: D0 moves with the load, EE gives back any minute of the past.
    sim = start("--generation", "2", "--start", "2026-05-10T19:00:00+09:00",
                "--time-scale", "600", "--unit", "0.001", "--digits", "8")  # fmt: skip
    probe = joined(sim)
    answer = probe.get(0x9F, 0x9E, 0x82, 0xC0)
    assert {0xC0, 0xD0, 0xEE, 0xEF} <= property_map(edt(answer, 0x9F))
    assert 0xEF in property_map(edt(answer, 0x9E)) and edt(answer, 0x82)[2:3] == b"R"
    c0 = edt(answer, 0xC0)
    assert len(c0) == 16 and c0[0] == 0 and c0[1:4] == edt(probe.get(0x8A, tid=9), 0x8A)
    d0s = []
    for tid in range(10, 14):
        d0, e0 = (edt(a, e) for a in [probe.get(0xD0, 0xE0, tid=tid)] for e in (0xD0, 0xE0))
        assert len(d0) == 15 and d0[6] == 0  # the latest whole minute: no seconds
        assert u32(d0[7:11]) <= u32(e0)  # forward at the minute ≤ E0 now
        d0s.append(d0)
        time.sleep(1.2)  # two meter minutes
    forward = [u32(d[7:11]) for d in d0s]
    assert forward == sorted(forward) and forward[-1] > forward[0]  # noon: it moves
    # EE for the minute of the first D0 and the nine before it: the same counters.
    first = d0s[0]
    setting = first[:6] + b"\x0a"
    assert probe.request(ESV.SETC, [Property(0xEF, setting)], 20).esv == ESV.SET_RES
    answer = probe.get(0xEE, 0xEF, tid=21)
    assert edt(answer, 0xEF) == setting
    ee = edt(answer, 0xEE)
    assert ee[:7] == setting and len(ee) == 87
    assert ee[7:15] == first[7:15]  # newest first: the minute D0 gave
    values = [u32(ee[7 + 8 * i : 11 + 8 * i]) for i in range(10)]
    assert values == sorted(values, reverse=True)
    # A month back is there too (the model's whole clock range).
    old = (2026).to_bytes(2, "big") + bytes((4, 10, 19, 0, 1))
    assert probe.request(ESV.SETC, [Property(0xEF, old)], 22).esv == ESV.SET_RES
    back = edt(probe.get(0xEE, tid=23), 0xEE)
    assert back[:7] == old and u32(back[7:11]) < values[-1]
