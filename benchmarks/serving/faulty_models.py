"""Two trusted Python models for the automatic-rollback scenarios, pickled by value (cloudpickle)
so the gateway loads them without this folder: one that fails 20% of its requests, one that
answers like the benchmark's model but 200 ms later."""

from __future__ import annotations

import random
import time
from typing import Any


class Flaky:
    """Predicts class 1, and fails one request in five (at random)."""

    def __init__(self, error_rate: float = 0.2) -> None:
        self.error_rate = error_rate

    def predict(self, frame: Any) -> list[int]:
        if random.random() < self.error_rate:
            raise RuntimeError("planted failure (benchmark: 20% errors)")
        return [1] * len(frame)


class Slow:
    """Predicts class 1 after `delay_s` (200 ms)."""

    def __init__(self, delay_s: float = 0.2) -> None:
        self.delay_s = delay_s

    def predict(self, frame: Any) -> list[int]:
        time.sleep(self.delay_s)
        return [1] * len(frame)
