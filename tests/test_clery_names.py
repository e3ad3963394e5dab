"""The one name matcher used by the crime log, the fire log and the notifications."""

from __future__ import annotations

import pytest

from vmsbridge.clery.names import fold, mentions_name, names_in


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Assault on Zoe Li", "Zoë Li"),  # accents folded, a two-letter surname counts
        ("ASSAULT ON ZOE", "Zoë Li"),
        ("Report by Li", "Zoë Li"),
        ("Theft from O\u2019Neil", "O'Neil"),  # a typographic apostrophe is an apostrophe
        ("Theft from O'Neil", "O\u2019Neil"),
        ("Theft from ONeil", "O'Neil"),  # the full name with its apostrophe left out
        ("Neil's car", "O'Neil"),
        ("Smith\u2013Jones reported it", "Anna Smith-Jones"),  # an en dash for the hyphen
        ("Jones", "Anna Smith\u2010Jones"),
        ("\uff2c\uff49 reported it", "Li"),  # full-width letters
        ("zoé's bicycle", "ZOE Li"),
        ("Theft, Ludwig van Beethoven Hall", "Ludwig van Beethoven"),
        ("DANA", "dana whitfield"),
        # A part with an apostrophe or hyphen, run together, alone (before: only the full name).
        ("Theft: ONeil reported", "Zo\u00eb O'Neil"),
        ("Theft: O\u2019Neil reported", "Zo\u00eb O'Neil"),
        ("Theft: O Neil reported", "Zo\u00eb O'Neil"),
        ("JeanLuc's bicycle", "Jean-Luc Picard"),
        ("Jean Luc's bicycle", "Jean-Luc Picard"),
        ("SmithJones reported it", "Anna Smith-Jones"),
    ],
)
def test_a_name_is_found_however_it_is_spelled(text: str, name: str) -> None:
    assert mentions_name(text, name)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Lisa reported a theft", "Zoë Li"),  # part of a word is not the word
        ("Theft from a van", "Ludwig van Beethoven"),  # a particle alone identifies nobody
        ("A bicycle was taken", "A. Smith"),  # nor does an initial
        ("Burglary, Dr. office", "Dr. Jane Doe"),
        ("", "Zoë Li"),
        ("Theft at JR's diner", "J.R. Ewing"),  # run-together initials are still initials
    ],
)
def test_words_that_are_not_the_name_pass(text: str, name: str) -> None:
    assert not mentions_name(text, name)


def test_fold_and_names_in() -> None:
    assert fold("İSTANBUL Zoë O\u2019Neil\u2013Smith") == "istanbul zoe o'neil-smith"
    assert names_in("Assault on Zoe", ["Sam Hill", "Zoë Li"])
    assert not names_in(None, ["Zoë Li"])
    assert not names_in("Assault", [])
