"""QuantShift trading engine."""
import os as _os

# The bot's matrices are small (bars x symbols); a multi-threaded BLAS spends
# more time waking threads than computing and competes with the other bot on
# a 2-core host. Set before numpy is first imported (the console scripts import
# quantshift first); an explicit environment setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")

__version__ = "0.3.0"
