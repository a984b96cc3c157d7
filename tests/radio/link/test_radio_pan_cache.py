"""The PAN cache: in the data dir, for one B-route ID, written only when it changes."""

from __future__ import annotations

import json

from services.radio.link.pan_cache import FILE_NAME, PanCache
from services.radio.link.scan import PanDescriptor

PAN = PanDescriptor(0x21, 0x8CF5, "001D129012345678", 0xE1, "CCDDEEFF")


def test_saved_and_loaded(tmp_path):
    PanCache(tmp_path, "ccddeeff").save(PAN)
    assert (tmp_path / FILE_NAME).exists()
    assert PanCache(tmp_path, "CCDDEEFF").load() == PAN


def test_another_b_route_id_does_not_use_it(tmp_path):
    PanCache(tmp_path, "CCDDEEFF").save(PAN)
    assert PanCache(tmp_path, "11223344").load() is None


def test_unchanged_pan_is_not_written_again(tmp_path):
    cache = PanCache(tmp_path, "CCDDEEFF")
    cache.save(PAN)
    before = (tmp_path / FILE_NAME).stat().st_mtime_ns
    cache.save(PAN)
    assert (tmp_path / FILE_NAME).stat().st_mtime_ns == before


def test_forgotten(tmp_path):
    cache = PanCache(tmp_path, "CCDDEEFF")
    cache.save(PAN)
    cache.forget()
    assert cache.load() is None
    cache.forget()  # twice is fine


def test_damaged_file_means_scan(tmp_path):
    (tmp_path / FILE_NAME).write_text("{not json")
    assert PanCache(tmp_path, "CCDDEEFF").load() is None
    (tmp_path / FILE_NAME).write_text(json.dumps({"for_pair_id": "CCDDEEFF", "pan": {"x": 1}}))
    assert PanCache(tmp_path, "CCDDEEFF").load() is None
