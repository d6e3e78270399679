"""Material spaces: B2 loader, generic CSV loader, formula parser, synthetic world, oracle."""
from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labnet.environment import DataError, MaterialSpace, Oracle, load_b2, load_csv, synthetic_world
from labnet.environment.datasets import B2_ELEMENTS
from labnet.environment.formula import FormulaError, composition_fractions, composition_matrix, parse_formula

# ----------------------------------------------------------------------------- B2 (real file)


def test_b2_loads_full_dataset_quickly(b2_path: Path) -> None:
    start = time.perf_counter()
    space = load_b2(b2_path)
    assert time.perf_counter() - start < 2.0
    assert len(space) == 16_908
    assert space.descriptors.shape == (16_908, 39)
    assert space.descriptors.dtype == np.float32 and space.descriptors.flags.c_contiguous
    np.testing.assert_allclose(space.descriptors.sum(axis=1), 1.0, atol=1e-6)
    assert space.descriptor_names == B2_ELEMENTS and space.descriptor_names[-1] == "empty"
    assert space.maximum("M") == pytest.approx(2.613, abs=5e-4)
    assert space.maximum("Sp") == pytest.approx(0.957, abs=5e-4)
    assert space.maximum("Tc") == pytest.approx(937.65, abs=5e-3)
    assert space.threshold("Tc") == pytest.approx(843.9, abs=0.05)  # min Tc is 0: 90 % of max
    assert set(space.property_names) == {"M", "Sp", "Tc", "gap", "electronic", "lattice_constant"}
    assert space.values("M").dtype == np.float64
    assert len(set(space.ids)) == len(space)
    twins = np.flatnonzero(space.first_twin != np.arange(len(space)))  # the second of each identical pair
    assert len(twins) == 102 and (space.first_twin[twins] < twins).all()
    np.testing.assert_array_equal(space.descriptors[twins], space.descriptors[space.first_twin[twins]])
    assert space.ids[0].startswith("(") and ")" in space.ids[0]


# ----------------------------------------------------------------------------- B2 (invented rows)


def _b2_like_row(i: int) -> list[object]:
    """An invented row with the B2 layout (not data from the real file)."""
    counts = [0] * 39
    counts[B2_ELEMENTS.index("Li")], counts[B2_ELEMENTS.index("Mg")] = 40, 60
    counts[B2_ELEMENTS.index("Fe") if i % 2 else B2_ELEMENTS.index("Co")] = 100
    c_element = "Fe" if i % 2 else "Co"
    return [
        0.5 + i, 0, 0.1 * i, 0, 10.0 + i, 5.5, 100.0 * i,
        "Li", 40, "Mg", 60, c_element, 100, 3, 12, 26, "B2", i, f"made_up_{i}.csv",
        *counts, 200, i,
    ]


def _write_b2_like(path: Path, rows: list[list[object]]) -> Path:
    pd.DataFrame(rows).to_csv(path, header=False, index=False)
    return path


def test_b2_like_file_loads(tmp_path: Path) -> None:
    space = load_b2(_write_b2_like(tmp_path / "b2.csv", [_b2_like_row(i) for i in range(2)]))
    assert list(space.ids) == ["(Li0.4Mg0.6)Co", "(Li0.4Mg0.6)Fe"]
    np.testing.assert_allclose(space.values("Tc"), [0.0, 100.0])
    assert space.descriptors[0, B2_ELEMENTS.index("Mg")] == pytest.approx(0.3)


def test_b2_missing_file_names_path_and_hint(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(DataError, match=r"data file not found: .*nowhere\.csv.*--data PATH"):
        load_b2(missing)


def test_b2_wrong_column_count(tmp_path: Path) -> None:
    path = _write_b2_like(tmp_path / "short.csv", [_b2_like_row(i)[:59] for i in range(2)])
    with pytest.raises(DataError, match=r"short\.csv: has 59 columns, expected 60"):
        load_b2(path)


def test_b2_non_numeric_value_names_column(tmp_path: Path) -> None:
    rows = [_b2_like_row(i) for i in range(3)]
    rows[2][6] = "hot"
    path = _write_b2_like(tmp_path / "bad.csv", rows)
    with pytest.raises(DataError, match=r"bad\.csv: column 6 \(Tc\) has a non-numeric value 'hot' at row 2"):
        load_b2(path)


def test_b2_nan_value_names_column(tmp_path: Path) -> None:
    rows = [_b2_like_row(i) for i in range(3)]
    rows[1][2] = None
    path = _write_b2_like(tmp_path / "nan.csv", rows)
    with pytest.raises(DataError, match=r"nan\.csv: column 2 \(Sp\) has a missing \(NaN\) value at row 1"):
        load_b2(path)


def test_b2_composition_counts_must_sum_to_200(tmp_path: Path) -> None:
    rows = [_b2_like_row(i) for i in range(2)]
    rows[1][19] = 41  # Li count
    with pytest.raises(DataError, match=r"row 1 sum to 201, expected 200"):
        load_b2(_write_b2_like(tmp_path / "sum.csv", rows))


# ----------------------------------------------------------------------------- formula parser


@pytest.mark.parametrize(
    ("formula", "amounts"),
    [
        ("Fe2O3", {"Fe": 2.0, "O": 3.0}),
        ("Li0.2Mg0.8Fe", {"Li": 0.2, "Mg": 0.8, "Fe": 1.0}),
        ("(Li0.2Mg0.8)Fe", {"Li": 0.2, "Mg": 0.8, "Fe": 1.0}),
        ("(Fe2)3O", {"Fe": 6.0, "O": 1.0}),
        ("Ca3(PO4)2", {"Ca": 3.0, "P": 2.0, "O": 8.0}),
        ("[Co(NH3)6]Cl3", {"Co": 1.0, "N": 6.0, "H": 18.0, "Cl": 3.0}),
        ("FeFe2", {"Fe": 3.0}),
        (" Na Cl ", {"Na": 1.0, "Cl": 1.0}),
    ],
)
def test_parse_formula(formula: str, amounts: dict[str, float]) -> None:
    parsed = parse_formula(formula)
    assert parsed.keys() == amounts.keys()
    for element, amount in amounts.items():
        assert parsed[element] == pytest.approx(amount)


def test_composition_fractions_sum_to_one() -> None:
    fractions = composition_fractions("Fe2O3")
    assert fractions == pytest.approx({"Fe": 0.4, "O": 0.6})
    assert composition_fractions("(Li0.2Mg0.8)Fe") == pytest.approx({"Li": 0.1, "Mg": 0.4, "Fe": 0.5})


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("", "empty"),
        ("Xy2", "unknown element 'Xy'"),
        ("(Fe2O3", r"unclosed '\('"),
        ("Fe2)O", r"unmatched '\)'"),
        ("2Fe", "number '2' .* does not follow"),
        ("Fe-O", "unexpected character '-'"),
        ("Fe0O0", "sum to 0"),
        ("()Fe", "empty brackets"),
    ],
)
def test_bad_formulas(formula: str, message: str) -> None:
    with pytest.raises(FormulaError, match=message):
        composition_fractions(formula)


def test_composition_matrix_orders_elements_by_atomic_number() -> None:
    matrix, elements = composition_matrix(["Fe2O3", "LiH"])
    assert elements == ("H", "Li", "O", "Fe")
    np.testing.assert_allclose(matrix, [[0, 0, 0.6, 0.4], [0.5, 0.5, 0, 0]], atol=1e-7)
    assert matrix.dtype == np.float32


# ----------------------------------------------------------------------------- generic CSV


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_load_csv_with_formula_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "oxides.csv", "name,formula,gap,hardness\na,Fe2O3,2.0,5\nb,(Li0.5Mg0.5)O,7.5,3\n")
    space = load_csv(path, ["gap", "hardness"], formula_column="formula", id_column="name")
    assert space.name == "oxides"
    assert space.descriptor_names == ("Li", "O", "Mg", "Fe")
    np.testing.assert_allclose(space.descriptors.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(space.descriptors[1], [0.25, 0.5, 0.25, 0.0], atol=1e-7)
    assert list(space.ids) == ["a", "b"]
    np.testing.assert_allclose(space.values("hardness"), [5.0, 3.0])


def test_load_csv_with_feature_columns_and_default(tmp_path: Path) -> None:
    path = _write(tmp_path / "feat.csv", "id,x1,x2,label,y\n7,0.1,1.0,foo,3.0\n9,0.2,2.0,bar,4.0\n")
    chosen = load_csv(path, "y", feature_columns=["x2", "x1"], id_column="id", name="mine")
    assert chosen.name == "mine" and chosen.descriptor_names == ("x2", "x1")
    np.testing.assert_allclose(chosen.descriptors, [[1.0, 0.1], [2.0, 0.2]], rtol=1e-6)
    assert list(chosen.ids) == [7, 9]
    default = load_csv(path, ["y"], id_column="id")  # numeric, not property, not id: x1, x2
    assert default.descriptor_names == ("x1", "x2")
    assert list(default.ids) == [7, 9]
    # a column named id is index-like: never an automatic feature (issue 12)
    assert list(load_csv(path, ["y"]).descriptor_names) == ["x1", "x2"]
    assert list(load_csv(path, ["y"]).ids) == [0, 1]


def test_load_csv_missing_property_column_lists_available(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", "formula,Tc\nFe,1.0\n")
    with pytest.raises(DataError, match=r"p\.csv: property column 'M' not found; available columns: formula, Tc"):
        load_csv(path, ["Tc", "M"], formula_column="formula")


def test_load_csv_missing_feature_and_formula_columns(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", "x,Tc\n1,1.0\n")
    with pytest.raises(DataError, match=r"feature column 'z' not found; available columns: x, Tc"):
        load_csv(path, ["Tc"], feature_columns=["z"])
    with pytest.raises(DataError, match=r"formula column 'formula' not found"):
        load_csv(path, ["Tc"], formula_column="formula")


def test_load_csv_non_numeric_value_names_column_and_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "v.csv", "formula,Tc\nFe,1.0\nCo,warm\nNi,3\n")
    with pytest.raises(DataError, match=r"v\.csv: property column 'Tc' has a non-numeric value 'warm' at row 1"):
        load_csv(path, ["Tc"], formula_column="formula")


def test_load_csv_nan_value_names_column_and_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "n.csv", "x,Tc\n1,1.0\n2,\n3,2.0\n")
    with pytest.raises(DataError, match=r"n\.csv: property column 'Tc' has a missing \(NaN\) value at row 1"):
        load_csv(path, ["Tc"])
    path = _write(tmp_path / "f.csv", "x,Tc\n1,1.0\n,2.0\n")
    with pytest.raises(DataError, match=r"feature column 'x' has a missing \(NaN\) value at row 1"):
        load_csv(path, ["Tc"], feature_columns=["x"])


def test_load_csv_bad_formula_names_row_and_formula(tmp_path: Path) -> None:
    path = _write(tmp_path / "f.csv", "formula,Tc\nFe2O3,1.0\nFe(O,2.0\n")
    with pytest.raises(DataError, match=r"f\.csv: formula column 'formula': row 1: formula 'Fe\(O'"):
        load_csv(path, ["Tc"], formula_column="formula")


def test_load_csv_missing_file_and_duplicate_ids(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data file not found: .*absent\.csv"):
        load_csv(tmp_path / "absent.csv", ["Tc"])
    path = _write(tmp_path / "d.csv", "id,x,Tc\na,1,1.0\na,2,2.0\n")
    with pytest.raises(DataError, match=r"id column 'id' has duplicate value 'a' at row 1"):
        load_csv(path, ["Tc"], id_column="id")


# ----------------------------------------------------------------------------- MaterialSpace


def _tiny_space() -> MaterialSpace:
    return MaterialSpace(
        name="tiny",
        ids=np.array(["a", "b", "c"]),
        descriptors=np.eye(3),
        descriptor_names=("x", "y", "z"),
        properties=pd.DataFrame({"E": [-1.0, 0.0, 3.0]}),
    )


def test_material_space_thresholds_and_unknown_property() -> None:
    space = _tiny_space()
    assert space.descriptors.dtype == np.float32 and not space.descriptors.flags.writeable
    assert space.threshold("E", 0.9, "maximize") == pytest.approx(-1.0 + 0.9 * 4.0)
    assert space.threshold("E", 0.9, "minimize") == pytest.approx(3.0 - 0.9 * 4.0)
    with pytest.raises(KeyError, match="no property 'Tc'; available: E"):
        space.values("Tc")
    with pytest.raises(ValueError, match="goal"):
        space.threshold("E", goal="up")  # type: ignore[arg-type]


def test_material_space_validation_names_the_problem() -> None:
    with pytest.raises(ValueError, match="property 'E' must be finite; row 1"):
        MaterialSpace("t", np.arange(2), np.zeros((2, 1)), ("x",), pd.DataFrame({"E": [1.0, np.nan]}))
    with pytest.raises(ValueError, match="descriptors must have shape"):
        MaterialSpace("t", np.arange(3), np.zeros((2, 1)), ("x",), pd.DataFrame({"E": [1.0, 2.0, 3.0]}))
    with pytest.raises(ValueError, match="descriptors must be finite"):
        MaterialSpace("t", np.arange(2), np.array([[0.0], [np.inf]]), ("x",), pd.DataFrame({"E": [1.0, 2.0]}))


# ----------------------------------------------------------------------------- synthetic world


def test_synthetic_world_shapes_and_composition() -> None:
    space = synthetic_world(n_candidates=500, n_descriptors=8, n_properties=4, seed=1)
    assert len(space) == 500 and space.descriptors.shape == (500, 8)
    assert space.property_names == ("P0", "P1", "P2", "P3")
    np.testing.assert_allclose(space.descriptors.sum(axis=1), 1.0, atol=1e-6)
    n_mixed = (space.descriptors > 0).sum(axis=1)
    assert set(np.unique(n_mixed)) <= {2, 3}
    assert len(np.unique(space.descriptors, axis=0)) == 500
    for prop in space.property_names:
        assert space.minimum(prop) == pytest.approx(0.0) and space.maximum(prop) == pytest.approx(1.0)


def test_synthetic_world_is_deterministic_per_seed() -> None:
    a, b, c = synthetic_world(300, seed=5), synthetic_world(300, seed=5), synthetic_world(300, seed=6)
    np.testing.assert_array_equal(a.descriptors, b.descriptors)
    pd.testing.assert_frame_equal(a.properties, b.properties)
    assert not np.array_equal(a.descriptors, c.descriptors)
    assert not np.allclose(a.values("P0"), c.values("P0"))


@pytest.mark.parametrize("correlation", [0.5, 0.9, 0.0, -0.3])
def test_synthetic_world_property_correlation(correlation: float) -> None:
    space = synthetic_world(n_candidates=2000, n_properties=3 if correlation >= -0.5 else 2, correlation=correlation)
    matrix = np.corrcoef(space.properties.to_numpy().T)
    off_diagonal = matrix[~np.eye(len(matrix), dtype=bool)]
    assert np.all(np.abs(off_diagonal - correlation) < 0.15)


def test_synthetic_world_negative_correlation_and_argument_errors() -> None:
    pair = synthetic_world(1000, n_properties=2, correlation=-0.8)
    assert np.corrcoef(pair.values("P0"), pair.values("P1"))[0, 1] == pytest.approx(-0.8, abs=0.15)
    with pytest.raises(ValueError, match=re.escape("correlation = -0.8: expected a number in [-0.5, 1]")):
        synthetic_world(100, n_properties=3, correlation=-0.8)
    with pytest.raises(ValueError, match="n_descriptors = 1"):
        synthetic_world(100, n_descriptors=1)
    with pytest.raises(ValueError, match="n_candidates = 3"):
        synthetic_world(3, n_properties=3)
    with pytest.raises(ValueError, match="correlation = 1.5"):
        synthetic_world(100, correlation=1.5)
    with pytest.raises(ValueError, match="seed"):
        synthetic_world(100, seed=-1)


# ----------------------------------------------------------------------------- oracle


def test_oracle_exact_biased_and_noisy() -> None:
    space = _tiny_space()
    exact = Oracle(space, "E")
    assert exact.exact
    np.testing.assert_array_equal(exact.measure(np.array([2, 0])), [3.0, -1.0])
    biased = Oracle(space, "E", bias=0.5)
    assert not biased.exact
    np.testing.assert_array_equal(biased.measure(np.array([1])), [0.5])
    noisy_a = Oracle(space, "E", noise_std=0.1, seed=3).measure(np.zeros(2000, dtype=int))
    noisy_b = Oracle(space, "E", noise_std=0.1, seed=3).measure(np.zeros(2000, dtype=int))
    np.testing.assert_array_equal(noisy_a, noisy_b)
    assert noisy_a.dtype == np.float64
    assert noisy_a.mean() == pytest.approx(-1.0, abs=0.02) and noisy_a.std() == pytest.approx(0.1, rel=0.1)
    with pytest.raises(IndexError, match="index 3 is outside"):
        exact.measure(np.array([3]))
    with pytest.raises(KeyError, match="no property 'Q'"):
        Oracle(space, "Q")
    with pytest.raises(ValueError, match="noise_std = -1"):
        Oracle(space, "E", noise_std=-1)
