"""Isocontour VOIs on a known profile."""

import numpy as np

from iahepaticprrt.imaging.isocontour import isocontour_mask


def test_threshold_and_connectivity():
    values = np.zeros((5, 5, 20))
    values[2, 2, 2:8] = [1, 4, 10, 6, 4.1, 3.9]   # hot lesion, max 10
    values[2, 2, 12:15] = [8, 9, 8]              # a second hot spot, not connected
    region = np.ones(values.shape, bool)
    mask = isocontour_mask(values, region, 0.41)
    assert sorted(np.nonzero(mask)[2]) == [4, 5, 6]  # >= 4.1 (not 4 or 3.9), connected to the maximum
    both = isocontour_mask(values, region, 0.41, connected_to_max=False)
    assert np.count_nonzero(both) == 6  # plus the 8, 9, 8 spot
    assert not isocontour_mask(values, np.zeros(values.shape, bool), 0.5).any()
