"""The meter layer: TID matching, one retry with the same TID, holds, identity, scaling, INFC.

The link below is a small in-process meter (what the session layer hands up and takes down),
so these tests are about ECHONET Lite only; the wire is tested elsewhere.
"""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from common.echonet import EOJ_CONTROLLER, EOJ_SMART_METER, ESV, Frame, Property
from services.radio.condition import RadioCondition
from services.radio.link.session import SendFailed
from services.radio.meter.client import MeterClient, MeterTimeout
from services.radio.meter.notifications import Notifications, infc_response
from services.radio.timing import Timing

TZ = ZoneInfo("Asia/Tokyo")
FAST = Timing().scaled(0.01)  # response timeout 0.2 s, resend pause 0.05 s


class Link:
    """A meter behind a link: ``answer(frame)`` decides what comes back, and when."""

    def __init__(self, answer=None) -> None:
        self.sent: list[Frame] = []
        self.inbox: deque[tuple[float, bytes]] = deque()
        self.answer = answer or (lambda f: [(0.0, response(f))])
        self.held = False
        self.fail_sends = 0

    def send(self, payload: bytes) -> None:
        if self.fail_sends:
            self.fail_sends -= 1
            raise SendFailed("EVENT 21 01")
        frame = Frame.decode(payload)
        self.sent.append(frame)
        for delay, data in self.answer(frame):
            self.inbox.append((time.monotonic() + delay, data))

    def receive(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.inbox and self.inbox[0][0] <= time.monotonic():
                return self.inbox.popleft()[1]
            time.sleep(0.005)
        return None


VALUES = {0xE7: (523).to_bytes(4, "big"), 0xE0: (123456).to_bytes(4, "big"), 0xE1: b"\x01",
          0xD7: b"\x06", 0x8A: bytes.fromhex("000016"), 0x8D: b"SIM000000001",
          0x82: bytes((0, 0, ord("F"), 0)), 0x9F: bytes((3, 0xE7, 0xE0, 0xE1))}  # fmt: skip


def response(request: Frame, values: dict[int, bytes] = VALUES) -> bytes:
    props = tuple(Property(p.epc, values.get(p.epc, b"")) for p in request.properties)
    esv = ESV.GET_RES if all(p.edt for p in props) else ESV.GET_SNA
    return Frame(request.tid, EOJ_SMART_METER, EOJ_CONTROLLER, esv, props).encode()


def client(link: Link, unsolicited=lambda f: None) -> tuple[MeterClient, RadioCondition]:
    condition = RadioCondition(None)
    return MeterClient(link, FAST, TZ, condition, unsolicited), condition


def test_each_request_has_its_own_tid_and_only_that_answers_it():
    stray = Frame(999, EOJ_SMART_METER, EOJ_CONTROLLER, ESV.GET_RES, (Property(0xE7, b"\0" * 4),))
    link = Link(lambda f: [(0.0, stray.encode()), (0.02, response(f))])
    meter, _ = client(link)
    answers, _ = meter.read([0xE7])
    meter.read([0xE7])
    assert [f.tid for f in link.sent] == [1, 2]
    assert answers[0].measurements[0].value == 523


def test_late_answer_to_the_first_try_counts_for_the_retry():
    link = Link(lambda f: [(0.3, response(f))])  # later than the 0.2 s timeout
    meter, condition = client(link)
    answers, _ = meter.read([0xE7])
    assert [f.tid for f in link.sent] == [1, 1]  # the retry kept the TID
    assert answers[0].epc == 0xE7
    assert (condition.counters.timeouts, condition.counters.retries) == (1, 1)


def test_no_answer_after_the_retry_is_a_meter_timeout():
    meter, condition = client(Link(lambda f: []))
    start = time.monotonic()
    with pytest.raises(MeterTimeout):
        meter.get([0xE7])
    assert 0.35 < time.monotonic() - start < 1.0
    assert (condition.counters.requests, condition.counters.timeouts) == (2, 2)


def test_failed_send_is_retried_after_a_pause():
    link = Link()
    link.fail_sends = 1
    meter, condition = client(link)
    assert meter.get([0xE7]).esv == ESV.GET_RES
    assert condition.counters.send_failures == 1 and condition.counters.retries == 1


def test_time_held_by_the_dongle_does_not_count_against_the_timeout():
    link = Link(lambda f: [(0.5, response(f))])
    meter, condition = client(link)
    link.held = True  # e.g. EVENT 29 during the wait
    assert meter.get([0xE7]).esv == ESV.GET_RES
    assert condition.counters.timeouts == 0


def test_identity_and_property_map():
    ident = client(Link())[0].identify()
    assert (ident.maker, ident.serial, ident.release) == ("000016", "SIM000000001", "F")
    assert ident.get_map == {0xE7, 0xE0, 0xE1}


def test_refused_d3_means_one_and_e1_in_the_same_answer_scales_e0():
    values = {**VALUES, 0xE1: b"\x02"}  # 0.01 kWh
    meter, _ = client(Link(lambda f: [(0.0, response(f, values))]))
    answers, refused = meter.read([0xD3, 0xE1, 0xE0])
    assert refused == {0xD3}
    e0 = next(a for a in answers if a.epc == 0xE0)
    assert e0.measurements[0].value == 1234.56


def test_infc_is_answered_with_infc_res_and_published():
    stamp = bytes((0x07, 0xEA, 11, 26, 12, 0, 0))
    infc = Frame(0x42, EOJ_SMART_METER, EOJ_CONTROLLER, ESV.INFC,
                 (Property(0xEA, stamp + (123456).to_bytes(4, "big")),))  # fmt: skip
    link = Link(lambda f: [(0.0, infc.encode()), (0.02, response(f))])
    published: list = []
    notifications = Notifications(link.send, published.extend)
    meter, _ = client(link, lambda f: notifications.handle(f, meter.scaling))
    meter.get([0xE7])
    assert link.sent[-1].encode() == infc_response(infc).encode()
    assert bytes.fromhex("1081004205FF010288017A01EA00") == infc_response(infc).encode()
    ((epc, (m,)),) = published
    assert epc == 0xEA and m.ts == datetime(2026, 11, 26, 12, 0, 0) and m.value == 123456
