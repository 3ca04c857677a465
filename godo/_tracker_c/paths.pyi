# godo/tracker/paths.py compiled as it is (Cython's pure mode, setup.py): the same
# names and signatures as the module it is made from.
from godo.tracker.paths import *
