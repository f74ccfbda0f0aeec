"""models.leaf_sums: the compiled sums of per-leaf vectors equal numpy's, bit for bit."""

import numpy as np
import pytest

from models.leaf_sums import leaf_sums, stack_tables


def _numpy_sums(leaves, tables):
    out = np.zeros((leaves.shape[0], tables[0].shape[1]))
    for tree, table in enumerate(tables):
        out += table[leaves[:, tree]]
    return out


def test_sums_equal_numpys_loop_to_the_last_bit():
    rng = np.random.default_rng(7)
    tables = [rng.normal(scale=10.0 ** rng.integers(-8, 3), size=(int(n), 5))
              for n in rng.integers(1, 40, size=60)]
    leaves = np.column_stack([rng.integers(0, t.shape[0], size=2_000) for t in tables])
    got = leaf_sums(leaves, stack_tables(tables))
    assert got.shape == (2_000, 5)
    assert np.array_equal(got, _numpy_sums(leaves, tables))


def test_a_hand_made_pair_of_trees():
    tables = [np.array([[1.0, 0.0], [0.0, -2.0]]), np.array([[0.5, 0.5], [3.0, 0.0], [0.0, 1.0]])]
    leaves = np.array([[0, 0], [1, 2], [1, 1]])
    assert leaf_sums(leaves, stack_tables(tables)).tolist() == [[1.5, 0.5], [0.0, -1.0],
                                                                 [3.0, -2.0]]


def test_no_rows_and_no_trees():
    tables = stack_tables([np.ones((3, 2))])
    assert leaf_sums(np.zeros((0, 1), dtype=np.intp), tables).shape == (0, 2)
    assert leaf_sums(np.zeros((4, 0), dtype=np.intp), stack_tables([])).shape == (4, 0)


def test_shapes_and_leaves_outside_the_tables_are_refused():
    tables = stack_tables([np.ones((3, 2)), np.ones((2, 2))])
    with pytest.raises(ValueError, match="do not match tables"):
        leaf_sums(np.zeros((4, 3), dtype=np.intp), tables)
    with pytest.raises(ValueError, match="outside the tables' 3 leaves"):
        leaf_sums(np.array([[0, 3]]), tables)


def test_int32_leaves_as_lightgbm_gives_them_sum_alike_and_floats_are_refused():
    rng = np.random.default_rng(3)
    tables = [rng.normal(size=(7, 3)) for _ in range(20)]
    leaves = rng.integers(0, 7, size=(500, 20))
    stacked = stack_tables(tables)
    assert np.array_equal(leaf_sums(leaves.astype(np.int32), stacked),
                          leaf_sums(leaves.astype(np.int64), stacked))
    with pytest.raises(ValueError, match="must be integers"):
        leaf_sums(leaves.astype(float), stacked)
