"""The password policy: what a new password must be, the same for every face.

A password has 12 to 1024 characters, is not the user's name (nor mostly made of it), and is not
on the list of common passwords shipped beside this module (`common-passwords.txt.gz`, the
20,000 most common leaked passwords, as Django ships them; see `common-passwords.LICENSE`).
Comparisons ignore case and surrounding spaces, as the list is lowercased.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

from tandem.errors import InvalidInput

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
# What must be left of a password once the user name is taken out of it (`alice-alice-1`).
MIN_BESIDES_NAME = 6


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list, read once, on the first password checked."""
    packed = resources.files("tandem.identity").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(packed).decode().split())


def check_password(password: str, user: str) -> str:
    """`password`, if `user` may have it.

    Raises:
        InvalidInput: too short or too long, made of the user name, or a common password.
    """
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    folded = password.strip().lower()
    name = user.strip().lower()
    if name and len(folded.replace(name, "")) < MIN_BESIDES_NAME:
        raise InvalidInput("the password is made of the user name: choose one nobody can guess")
    if folded in common_passwords():
        raise InvalidInput(
            "the password is on the list of common passwords: choose one nobody can guess"
        )
    return password
