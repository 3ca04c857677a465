"""The compiled twin of the tracker's parts (Cython's pure mode, no copy made):
`godo/tracker/NAME.py` is compiled as it is into `godo._tracker_c.NAME`, typed by
the `NAME.pxd` beside it here; `godo.twins` picks which twin runs.

A part imports its fellow parts by `.` (compiled, their compiled twins here) and
the tracker's shared modules by `..tracker` (one copy for both twins).
"""
