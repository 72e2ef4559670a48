"""report — what a finished experiment folder says: the checks of predictions against measurements, the
summary tables and report, and the figures; read from the run records alone, so a resumed run reports the same.
"""

from fedquant.validation.report.checks import check_bound, check_one_step, check_quant_error, check_ranking
from fedquant.validation.report.plots import write_plots
from fedquant.validation.report.summary import summarize, write_outputs

__all__ = ["check_bound", "check_one_step", "check_quant_error", "check_ranking", "summarize", "write_outputs",
           "write_plots"]
