"""Bounded calls (rnn_ref/core/deadline.py): what runs over its time is reported, never waited for."""

from __future__ import annotations

import threading
import time

import pytest

from rnn_ref.core.deadline import (
    DEFAULT_CASE_SECONDS,
    MAX_SECONDS,
    CalledCodeExited,
    DeadlineExceeded,
    case_seconds,
    parse_seconds,
    within,
)


def test_a_call_within_its_time_returns_its_value():
    assert within(5, "adding", lambda a, b: a + b, 2, b=3) == 5


def test_a_call_over_its_time_raises_naming_what_and_the_bound():
    release = threading.Event()
    started = time.perf_counter()
    with pytest.raises(DeadlineExceeded, match=r"engine x case y did not finish within 0\.2 s"):
        within(0.2, "engine x case y", release.wait)
    assert time.perf_counter() - started < 2
    release.set()  # let the abandoned worker end


def test_what_the_call_raises_comes_back_as_raised():
    def explode() -> None:
        raise KeyError("mapping exploded")

    with pytest.raises(KeyError, match="mapping exploded"):
        within(5, "exploding", explode)


def raises(error: BaseException):
    def call() -> None:
        raise error

    return call


@pytest.mark.parametrize("seconds", [5, 0])
def test_an_exit_in_the_called_code_is_an_ordinary_error_naming_it(seconds):
    """An engine whose run calls sys.exit(0) must not end `rnn-ref check` with status 0 and nothing printed."""
    with pytest.raises(CalledCodeExited, match=r"^engine e's run called sys.exit\(0\)$"):
        within(seconds, "engine e's run", raises(SystemExit(0)))


def test_a_keyboard_interrupt_of_the_called_code_is_an_ordinary_error_but_the_users_is_not():
    with pytest.raises(CalledCodeExited, match="engine e's run raised KeyboardInterrupt"):
        within(5, "engine e's run", raises(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):  # without a bound it runs here: it may be the user's Ctrl-C
        within(0, "engine e's run", raises(KeyboardInterrupt()))


def test_no_bound_calls_in_this_thread():
    assert within(0, "here", threading.current_thread) is threading.current_thread()
    assert within(None, "here", threading.current_thread) is threading.current_thread()


def test_the_case_bound_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("RNN_REF_CASE_TIMEOUT", raising=False)
    assert case_seconds() == DEFAULT_CASE_SECONDS
    monkeypatch.setenv("RNN_REF_CASE_TIMEOUT", "2.5")
    assert case_seconds() == 2.5
    monkeypatch.setenv("RNN_REF_CASE_TIMEOUT", "0")
    assert case_seconds() == 0


@pytest.mark.parametrize("text", ["soon", "-1", "nan", "inf", "", "1e300", "604801"])
def test_a_bound_that_is_not_a_finite_number_of_seconds_is_refused(text):
    with pytest.raises(ValueError, match="RNN_REF_CASE_TIMEOUT must be"):
        parse_seconds(text, "RNN_REF_CASE_TIMEOUT")


def test_a_command_that_runs_out_of_time_is_one_line_not_a_failed_write(monkeypatch, capsys):
    """DeadlineExceeded is a TimeoutError, an OSError: the CLI must not call it "could not write"."""
    import rnn_ref.cli.engines
    from rnn_ref.cli import main

    def hangs() -> str:
        raise DeadlineExceeded("importing plug-in 'slow'", 0.5)

    monkeypatch.setattr(rnn_ref.cli.engines, "render_engines", hangs)
    assert main(["engines"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnn-ref engines: error: importing plug-in 'slow' did not finish within 0.5 s")
    assert "could not write" not in err and err.count("\n") == 1


def test_the_largest_bound_is_a_week_and_is_accepted():
    assert parse_seconds(str(MAX_SECONDS), "--case-timeout") == MAX_SECONDS == 604800
