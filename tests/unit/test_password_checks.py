"""Password checks are argon2, memory-hard on purpose: a process runs only a few at once, so a
burst of Basic requests (wrong passwords and unknown names cost the same check) cannot take it
to a gigabyte; and only a few more wait for a turn, each holding a thread of the request pool,
so such a burst cannot hold every thread either: the rest are refused at once."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2 import PasswordHasher

from cargohold.services.access_errors import LoginThrottled, PasswordChecksBusy
from cargohold.services.secrets_hashing import (
    PASSWORD_CHECKS_AT_ONCE,
    PASSWORD_CHECKS_WAITING,
    Passwords,
)


class CountingHasher(PasswordHasher):
    """A real argon2 hasher (cheap parameters) that notes how many checks run at once."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=4096)
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().verify(hash, password)
        finally:
            with self.lock:
                self.running -= 1


class HeldHasher(PasswordHasher):
    """A real argon2 hasher (cheap parameters) whose checks wait for `release` before they
    start, so that a test decides how many are running."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=4096)
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.started.release()
        assert self.release.wait(30)
        return super().verify(hash, password)


def test_concurrent_checks_take_turns_and_each_still_answers_right() -> None:
    hasher = CountingHasher()
    passwords = Passwords(hasher, waiting=32)
    stored = passwords.hash("correct horse")
    guesses = ["correct horse" if i % 2 else f"wrong {i}" for i in range(24)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda guess: passwords.verify(stored, guess), guesses))
    assert answers == [guess == "correct horse" for guess in guesses]
    assert 1 <= hasher.most <= PASSWORD_CHECKS_AT_ONCE


def test_unknown_names_take_the_same_turns() -> None:
    hasher = CountingHasher()
    passwords = Passwords(hasher, waiting=32)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(passwords.spend_time, [f"guess {i}" for i in range(12)]))
    assert 1 <= hasher.most <= PASSWORD_CHECKS_AT_ONCE


def test_past_the_checks_that_may_wait_one_is_refused_at_once_then_turns_come_back() -> None:
    hasher = HeldHasher()
    passwords = Passwords(hasher)
    stored = passwords.hash("correct horse")
    places = PASSWORD_CHECKS_AT_ONCE + PASSWORD_CHECKS_WAITING
    guesses = ["correct horse" if i % 2 else f"wrong {i}" for i in range(places)]
    with ThreadPoolExecutor(places) as pool:
        held = [pool.submit(passwords.verify, stored, guess) for guess in guesses]
        for _ in range(PASSWORD_CHECKS_AT_ONCE):  # these run; the others wait for a turn
            assert hasher.started.acquire(timeout=30)
        # Every place taken: the next check (or hash, or an unknown name's dummy check) is
        # refused without waiting, as a throttled login is (429 with Retry-After).
        for attempt in (
            lambda: passwords.verify(stored, "correct horse"),
            lambda: passwords.hash("a new password"),
            lambda: passwords.spend_time("a guess"),
        ):
            with pytest.raises(PasswordChecksBusy) as busy:
                attempt()
            assert isinstance(busy.value, LoginThrottled) and busy.value.retry_after == 1.0
        hasher.release.set()
        assert [f.result(timeout=30) for f in held] == [g == "correct horse" for g in guesses]
    # The places are free again.
    assert passwords.verify(stored, "correct horse")


BURST = """
import resource
from concurrent.futures import ThreadPoolExecutor
from cargohold.services.secrets_hashing import Passwords
passwords = Passwords(waiting=16)  # the shipped parameters: 64 MiB per check
stored = passwords.hash("correct horse")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with ThreadPoolExecutor(16) as pool:
    assert not any(pool.map(lambda i: passwords.verify(stored, f"wrong {i}"), range(16)))
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_a_burst_of_sixteen_wrong_passwords_stays_within_a_few_checks_of_memory() -> None:
    # In a process of its own, with argon2-cffi's default parameters: its peak RSS grows by
    # the checks that ran at once (64 MiB each), not by the 16 that were asked for.
    done = subprocess.run(
        [sys.executable, "-c", BURST], capture_output=True, text=True, timeout=120, check=True
    )
    grown_mib = int(done.stdout.strip())
    assert grown_mib <= PASSWORD_CHECKS_AT_ONCE * 64 + 32, done.stdout
