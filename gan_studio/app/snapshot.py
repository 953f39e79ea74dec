"""Moved: the payloads the window draws are gan_studio.session.payloads (Frame, RunInfo, Report,
tile_grid...). This module only keeps the old names working for the panels that still import them
from here (plots, grid_browser, mode_view), and goes once they import from session.payloads.
"""
from gan_studio.session.payloads import (METRIC_COLUMNS, Frame, Report, RunInfo, cell_at,  # noqa: F401
                                         eval_summary, tile_grid, to_tiles)

View = Frame          # the old name of a Frame
Session = RunInfo     # the old name of a RunInfo
