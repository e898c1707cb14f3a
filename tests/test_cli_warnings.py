"""Running a command in-process leaves the caller's warning filters as they were."""

import warnings

import numpy as np
import tifffile

from mfscan.cli import main


def test_main_in_process_leaves_the_warning_filters_as_they_were(tmp_path, capsys):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8))  # written by tifffile, not by us
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        before = list(warnings.filters)
        assert main(["info", str(path)]) == 0  # a command that succeeds
        assert warnings.filters == before
        assert main(["info", str(tmp_path / "missing.tif")]) == 1  # and one that fails
        assert warnings.filters == before
        assert warnings.filters[0][:3] == ("error", None, RuntimeWarning)
