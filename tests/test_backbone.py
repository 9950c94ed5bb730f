"""ONNX Runtime's session settings (issue 20: the default model steady on a shared machine)."""

from __future__ import annotations

import os

import pytest

from moviegenre.errors import ConfigError
from moviegenre.models.backbone import RUNTIME_ENV, RuntimeSettings

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", RuntimeSettings()),
        ("ort", RuntimeSettings(ort_defaults=True)),
        ("threads=1", RuntimeSettings(threads=1)),
        ("threads=0,spinning=1", RuntimeSettings(threads=0, spinning=True)),
        (" spinning=0 ", RuntimeSettings(spinning=False)),
        ("spinning=1,spin_us=200", RuntimeSettings(spinning=True, spin_us=200)),
        ("spin_us=0,threads=2", RuntimeSettings(threads=2, spin_us=0)),
    ],
)
def test_settings_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(RUNTIME_ENV, value)
    assert RuntimeSettings.from_env() == expected


@pytest.mark.parametrize(
    "value",
    ["fast", "threads=-1", "threads=x", "spinning=yes", "threads", "spin_us=-5", "spin_us=100001"],
)
def test_a_bad_value_names_the_variable(monkeypatch, value):
    monkeypatch.setenv(RUNTIME_ENV, value)
    with pytest.raises(ConfigError, match=f"{RUNTIME_ENV}=.*not understood"):
        RuntimeSettings.from_env()


def test_default_options_use_the_usable_cores_and_never_spin():
    options = RuntimeSettings().session_options(ort)
    assert options.intra_op_num_threads == len(os.sched_getaffinity(0))
    assert options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
    with pytest.raises(Exception, match="spin_duration_us"):
        options.get_session_config_entry("session.intra_op.spin_duration_us")
    spinning = RuntimeSettings(spinning=True).session_options(ort)
    assert spinning.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert RuntimeSettings(threads=3).session_options(ort).intra_op_num_threads == 3


def test_ort_defaults_set_nothing():
    options = RuntimeSettings(ort_defaults=True).session_options(ort)
    assert options.intra_op_num_threads == 0  # ONNX Runtime decides
    with pytest.raises(Exception, match="allow_spinning"):  # not set: ONNX Runtime's default
        options.get_session_config_entry("session.intra_op.allow_spinning")


@pytest.mark.parametrize(("spinning", "set_to"), [(True, "150"), (False, None)])
def test_spin_us_bounds_spinning_only_when_threads_spin(spinning, set_to):
    options = RuntimeSettings(spinning=spinning, spin_us=150).session_options(ort)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == str(int(spinning))
    if set_to is None:
        with pytest.raises(Exception, match="spin_duration_us"):
            options.get_session_config_entry("session.intra_op.spin_duration_us")
    else:
        assert options.get_session_config_entry("session.intra_op.spin_duration_us") == set_to
