"""The PII scan: what it finds, what it must not find, and how it masks."""

from __future__ import annotations

import json
import random

import polars as pl
import pytest
from contract_world import ADULT_CSV, TELCO_CSV

from tandem.data.frames import TableFormat
from tandem.data.pii import (
    PiiFinding,
    PiiKind,
    detect,
    mask_value,
    match_expressions,
    scan_pii,
)

POSITIVE = {
    PiiKind.EMAIL: ["jane.doe@example.com", "write to ops+alerts@mail.corp.co.uk today"],
    PiiKind.PHONE: ["+44 20 7946 0958", "(555) 123-4567", "call 555.123.4567", "07700 900123"],
    PiiKind.CARD: ["4111 1111 1111 1111", "5500-0000-0000-0004", "card 378282246310005 ok"],
    PiiKind.SSN: ["123-45-6789", "ssn: 078-05-1120."],
    PiiKind.NINO: ["AB 12 34 56 C", "CE 10 37 59 D", "nino JG103759A"],
    PiiKind.IPV4: ["192.168.1.1", "from 10.0.0.255 at noon"],
    PiiKind.IPV6: ["2001:db8::1", "::1", "fe80::1ff:fe23:4567:890a"],
    PiiKind.NAME: ["Mary Lopez", "signed by James O'Brien", "Sophie Martin-Lewis", "Liam McDonald"],
}
NEGATIVE = {
    PiiKind.EMAIL: ["not an email", "a@b", "@example.com"],
    PiiKind.CARD: ["4111 1111 1111 1112", "1234567890123", "0000 0000 0000 0000"],  # Luhn / IIN
    PiiKind.SSN: ["000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567", "123-45-0000"],
    PiiKind.NINO: ["GB123456A", "DA123456A", "AB123456E", "ab123456c"],
    PiiKind.IPV4: ["256.1.1.1", "1.2.3", "version 1.2.3.4.5"],
    PiiKind.IPV6: ["12:30:45", "aa:bb:cc:dd:ee:ff", "deadbeef"],
    PiiKind.NAME: ["mary lopez", "Zebra Crossing", "Month-to-month"],
    PiiKind.PHONE: ["7590-VHVEG", "Bank transfer (automatic)", "12345"],
}


@pytest.mark.parametrize("kind", list(PiiKind))
def test_each_kind_matches_its_examples_and_not_its_look_alikes(kind):
    frame = pl.DataFrame({"v": POSITIVE[kind] + NEGATIVE[kind] + [None]})
    matches = frame.select(match_expressions(pl.col("v"))[kind]).to_series().to_list()
    n = len(POSITIVE[kind])
    assert matches == [True] * n + [False] * len(NEGATIVE[kind]) + [None]
    # the Python check used for masking agrees with the vectorised one
    assert [detect(v) is kind for v in POSITIVE[kind]] == [True] * n
    assert all(detect(v) is not kind for v in NEGATIVE[kind])


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def test_the_vectorised_luhn_check_agrees_with_the_textbook_one():
    rng = random.Random(7)
    numbers = []
    for _ in range(5_000):
        length = rng.randint(13, 19)
        numbers.append(str(rng.randint(2, 6)) + "".join(rng.choices("0123456789", k=length - 1)))
    frame = pl.DataFrame({"v": numbers})
    got = frame.select(match_expressions(pl.col("v"))[PiiKind.CARD]).to_series().to_list()
    assert got == [_luhn(n) for n in numbers]
    assert 0.05 < sum(got) / len(got) < 0.15  # about one random number in ten passes


def test_the_real_datasets_hold_no_personal_data():
    assert scan_pii([TELCO_CSV], TableFormat.CSV, min_share=0) == []
    assert scan_pii([ADULT_CSV], TableFormat.CSV, min_share=0) == []


def test_shares_per_column_and_kind():
    n = 1_000
    frame = pl.DataFrame(
        {
            "id": list(range(n)),  # not text: not scanned
            "contact": [
                f"user{i}@example.com"
                if i % 4 == 0
                else (f"+1 555 010 {i:04d}" if i % 4 == 1 else "n/a")
                for i in range(n)
            ],
            "notes": [f"Paid by 4111 1111 1111 1111, {i}" if i < 5 else "ok" for i in range(n)],
            "ip": [f"10.0.{i % 256}.{i % 200}" if i % 2 else None for i in range(n)],
            "segment": pl.Series(["a", "b"] * (n // 2), dtype=pl.Categorical),
        }
    )
    findings = scan_pii(frame)
    got = {(f.column, f.kind): (f.matched, f.scanned, f.share) for f in findings}
    assert got == {
        ("contact", PiiKind.EMAIL): (250, 1000, 0.25),
        ("contact", PiiKind.PHONE): (250, 1000, 0.25),
        ("ip", PiiKind.IPV4): (500, 500, 1.0),  # share of non-null values
    }
    assert all(f.rows_scanned == n for f in findings)
    # five cards in 1,000 notes: under the default 1 % threshold, reported with min_share=0
    everything = scan_pii(frame, min_share=0)
    assert ("notes", PiiKind.CARD, 5) in {(f.column, f.kind, f.matched) for f in everything}


def test_the_scan_is_bounded_to_a_sample_unless_asked_for_every_row():
    frame = pl.DataFrame({"c": ["x"] * 900 + ["jane@example.com"] * 100})
    assert scan_pii(frame, max_rows=900) == []
    [finding] = scan_pii(frame, max_rows=None)
    assert (finding.rows_scanned, finding.matched, finding.share) == (1000, 100, 0.1)
    [only] = scan_pii(frame.lazy(), max_rows=None, columns=["c"])
    assert only == finding


def test_findings_are_json():
    [finding] = scan_pii(pl.DataFrame({"c": ["jane@example.com"]}))
    data = json.loads(json.dumps(finding.to_json()))
    assert data == {
        "column": "c",
        "kind": "email",
        "matched": 1,
        "scanned": 1,
        "rows_scanned": 1,
        "share": 1.0,
    }
    assert PiiFinding.from_json(data) == finding


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("john.smith@example.com", "j***@e***.com"),
        ("4111 1111 1111 1111", "4*** **** **** 1111"),
        ("4111111111111111", "4***********1111"),
        ("Priya Raman", "P***"),
        (42, "4***"),
        (None, None),
    ],
)
def test_masking(value, masked):
    assert mask_value(value) == masked
