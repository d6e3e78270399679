"""Chemical formula parsing: ``"(Li0.2Mg0.8)Fe"`` → element fractions.

Grammar (whitespace is ignored)::

    formula := group+
    group   := (element | "(" formula ")" | "[" formula "]") amount?
    element := uppercase letter, optionally one lowercase letter (a symbol of the periodic table)
    amount  := decimal number >= 0 (``2``, ``0.2``, ``.5``, ``1e-3``); default 1

Amounts inside brackets are multiplied by the bracket's amount, repeated elements add
up: ``(Fe2)3O`` → Fe 6, O 1. Fractions are the amounts divided by their sum.
Elements must be symbols of the periodic table (H … Og), which catches typos such as
``"Xy2"``. Element vocabularies are ordered by atomic number.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

ELEMENTS: tuple[str, ...] = (
    "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S",
    "Cl", "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga",
    "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd",
    "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm",
    "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os",
    "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa",
    "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf", "Db", "Sg",
    "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og",
)
"""Element symbols in order of atomic number (``ELEMENTS[z - 1]`` has atomic number z)."""

_ATOMIC_NUMBER: dict[str, int] = {symbol: z for z, symbol in enumerate(ELEMENTS, start=1)}

_TOKEN = re.compile(
    r"(?P<element>[A-Z][a-z]?)|(?P<open>[(\[])|(?P<close>[)\]])"
    r"|(?P<amount>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
)
_CLOSING = {"(": ")", "[": "]"}


class FormulaError(ValueError):
    """A formula string that cannot be parsed; the message names the formula and the position."""


def atomic_number(symbol: str) -> int:
    """Atomic number of an element symbol (``"Fe"`` → 26); ``FormulaError`` if unknown."""
    try:
        return _ATOMIC_NUMBER[symbol]
    except KeyError:
        raise FormulaError(f"unknown element symbol {symbol!r}") from None


def _tokenize(formula: str) -> list[tuple[str, str, int]]:
    """Split a formula into (kind, text, position) tokens; whitespace is skipped."""
    tokens: list[tuple[str, str, int]] = []
    position = 0
    while position < len(formula):
        if formula[position].isspace():
            position += 1
            continue
        match = _TOKEN.match(formula, position)
        if match is None:
            raise FormulaError(
                f"formula {formula!r}: unexpected character {formula[position]!r} at position {position}"
            )
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(), position))
        position = match.end()
    return tokens


def parse_formula(formula: str) -> dict[str, float]:
    """Element amounts of a formula, in order of first appearance (not normalized).

    Examples: ``"Fe2O3"`` → ``{"Fe": 2, "O": 3}``; ``"(Fe2)3O"`` → ``{"Fe": 6, "O": 1}``;
    ``"(Li0.2Mg0.8)Fe"`` → ``{"Li": 0.2, "Mg": 0.8, "Fe": 1}``.

    Raises:
        FormulaError: empty formula, unknown element, unbalanced brackets, a number
            without an element or bracket before it, or any other character.
    """
    if not isinstance(formula, str):
        raise FormulaError(f"formula {formula!r}: expected a string, got {type(formula).__name__}")
    tokens = _tokenize(formula)
    if not tokens:
        raise FormulaError(f"formula {formula!r}: empty")

    # Each stack level: (amounts so far, opening bracket, its position).
    stack: list[tuple[dict[str, float], str, int]] = [({}, "", -1)]
    last_group: dict[str, float] | None = None  # the group an amount would multiply
    for index, (kind, text, position) in enumerate(tokens):
        current = stack[-1][0]
        if kind == "element":
            if text not in _ATOMIC_NUMBER:
                raise FormulaError(f"formula {formula!r}: unknown element {text!r} at position {position}")
            last_group = {text: 1.0}
            current[text] = current.get(text, 0.0) + 1.0
        elif kind == "open":
            stack.append(({}, text, position))
            last_group = None
        elif kind == "close":
            inner, opening, opened_at = stack[-1]
            if len(stack) == 1 or _CLOSING[opening] != text:
                raise FormulaError(f"formula {formula!r}: unmatched {text!r} at position {position}")
            if not inner:
                raise FormulaError(f"formula {formula!r}: empty brackets at position {opened_at}")
            stack.pop()
            outer = stack[-1][0]
            for element, amount in inner.items():
                outer[element] = outer.get(element, 0.0) + amount
            last_group = inner
        else:  # amount
            previous_kind = tokens[index - 1][0] if index > 0 else None
            if last_group is None or previous_kind not in ("element", "close"):
                raise FormulaError(
                    f"formula {formula!r}: number {text!r} at position {position} does not follow an "
                    "element or a closing bracket"
                )
            multiplier = float(text)
            # The group was already added once with multiplier 1: add (multiplier - 1) more.
            for element, amount in last_group.items():
                current[element] += (multiplier - 1.0) * amount
            last_group = None
    if len(stack) > 1:
        _, opening, opened_at = stack[-1]
        raise FormulaError(f"formula {formula!r}: unclosed {opening!r} at position {opened_at}")
    return stack[0][0]


def composition_fractions(formula: str) -> dict[str, float]:
    """Element fractions of a formula, summing to 1 (``"Fe2O3"`` → Fe 0.4, O 0.6).

    Raises:
        FormulaError: unparsable formula, or all amounts zero.
    """
    amounts = parse_formula(formula)
    total = sum(amounts.values())
    if not total > 0:
        raise FormulaError(f"formula {formula!r}: the element amounts sum to {total}, expected > 0")
    return {element: amount / total for element, amount in amounts.items()}


def element_vocabulary(compositions: Iterable[dict[str, float]]) -> tuple[str, ...]:
    """Union of the elements of several compositions, sorted by atomic number."""
    elements: set[str] = set()
    for composition in compositions:
        elements.update(composition)
    return tuple(sorted(elements, key=atomic_number))


SHOWN_BAD_FORMULAS = 5
"""Unparsable formulas quoted in an error (all are counted)."""


def composition_matrix(
    formulas: Sequence[str], elements: Sequence[str] | None = None, row_numbers: Sequence[int] | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Fraction matrix of many formulas.

    Args:
        formulas: N formula strings.
        elements: column order; default: every element that appears, by atomic number.
        row_numbers: how messages number the formulas (default 0..N-1), e.g. the rows of a
            file some of whose rows were dropped.

    Returns:
        (fractions, elements): float32 array of shape [N, len(elements)] whose rows sum to 1,
        and the element symbols of its columns.

    Raises:
        FormulaError: formulas cannot be parsed (the message counts them and names the first
            few with their rows, 0-based), or one contains an element that is not in ``elements``.
    """
    rows = list(range(len(formulas))) if row_numbers is None else list(row_numbers)
    compositions: list[dict[str, float]] = []
    failures: list[str] = []
    for row, formula in zip(rows, formulas):
        try:
            compositions.append(composition_fractions(formula))
        except FormulaError as error:
            failures.append(f"row {row}: {error}")
    if len(failures) == 1:
        raise FormulaError(failures[0])
    if failures:
        shown = "; ".join(failures[:SHOWN_BAD_FORMULAS])
        more = f"; … ({len(failures) - SHOWN_BAD_FORMULAS} more)" if len(failures) > SHOWN_BAD_FORMULAS else ""
        raise FormulaError(f"{len(failures)} formulas cannot be parsed: {shown}{more}")
    vocabulary = tuple(elements) if elements is not None else element_vocabulary(compositions)
    column = {element: j for j, element in enumerate(vocabulary)}
    fractions = np.zeros((len(compositions), len(vocabulary)), dtype=np.float64)
    for i, composition in enumerate(compositions):
        for element, fraction in composition.items():
            if element not in column:
                raise FormulaError(
                    f"row {rows[i]}: formula {formulas[i]!r}: element {element!r} is not in the vocabulary"
                )
            fractions[i, column[element]] = fraction
    return fractions.astype(np.float32), vocabulary
