"""One thing wrong with a stack's configuration: the key it is about, and what is wrong and what to do.

A record, so that nothing recovers the key by splitting a message; it reads (``str``) as the message the
user sees, ``key: text``.
"""

from __future__ import annotations


class Problem(str):
    """``Problem("pkiPath", "is empty; ...")`` reads as ``pkiPath: is empty; ...``."""

    key: str
    text: str

    def __new__(cls, key: str, text: str) -> Problem:
        problem = super().__new__(cls, f"{key}: {text}")
        problem.key = key
        problem.text = text
        return problem

    def __reduce__(self):  # a str subclass with attributes: pickle it by its two fields
        return (Problem, (self.key, self.text))
