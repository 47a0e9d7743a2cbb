"""The checks behind every refusal: each returns a sentence, never raises."""

import math

import pytest

from llm.guards.limits import Limits, OneAtATime, SessionRate, check_history, check_request


@pytest.mark.parametrize(
    ("history", "says"),
    [
        ("not a list", "must be a list of messages"),
        ([{"role": "wizard", "content": "hi"}], "Message 1 of the history has no known role"),
        ([{"content": "hi"}], "Message 1 of the history has no known role"),
        (["hi"], "Message 1 of the history has no known role"),
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": {"file": "/etc/passwd"}}],
         "Message 2 of the history is not text"),
        ([{"role": "user", "content": [{"type": "file", "file": {"path": "/etc/passwd"}}]}], "Message 1 of the history is not text"),
        ([{"role": "user", "content": "x" * 60}, {"role": "assistant", "content": "y" * 50}], "The conversation is 110 characters"),
    ],
)
def test_a_malformed_or_oversized_history_gets_a_sentence(history, says):
    assert says in check_history(history, max_chars=100)


def test_a_good_history_passes_and_refused_messages_do_not_count():
    good = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}, {"role": "assistant", "content": None}]
    assert check_history(good, 100) is None
    refused = [{"role": "user", "content": "x" * 500}, {"role": "assistant", "content": "Too long.",
                                                         "metadata": {"title": "⚠ Note"}}]
    assert check_history(good + refused, 100, adding="again") is None


def test_nan_and_infinity_are_not_numbers_here():
    assert check_request("hi", math.nan, 10).startswith("Temperature must be")
    assert check_request("hi", 0.5, math.inf).startswith("Max tokens must be")
    assert check_request("hi", 0.5, 10) is None


def test_the_rate_is_per_session_and_frees_up_after_a_minute():
    rate = SessionRate(per_minute=1)
    assert rate.take("a", now=0) is None and rate.take("b", now=0) is None
    assert "next message can go in 60 seconds" in rate.take("a", now=0.2)
    assert rate.take("a", now=60.0) is None
    assert SessionRate(None).take("a") is None  # off by default


def test_one_answer_at_a_time_is_released_when_the_answer_ends():
    one = OneAtATime()
    with one.answer("a") as first:
        with one.answer("a") as second, one.answer("b") as other:
            assert (first, second, other) == (None, OneAtATime.BUSY, None)
    with one.answer("a") as again:
        assert again is None


def test_the_cap_never_raises_what_was_asked():
    assert Limits(max_output_tokens=50).cap(4000) == 50 and Limits(max_output_tokens=50).cap(20) == 20
    assert Limits().cap(4000.0) == 4000
