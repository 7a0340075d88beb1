"""sfid_tf: sFID, FID, Inception Score, Precision and Recall exactly as the ADM evaluator computes them.

    from sfid_tf import Evaluator, evaluate_files

The names are imported on first use, so `import sfid_tf` does not load TensorFlow.
"""

__version__ = "0.1.0"
__all__ = ["Evaluator", "evaluate_files", "SfidError"]


def __getattr__(name: str):
    if name in ("Evaluator", "evaluate_files"):
        from . import evaluator

        return getattr(evaluator, name)
    if name == "SfidError":
        from .errors import SfidError

        return SfidError
    raise AttributeError(f"module 'sfid_tf' has no attribute {name!r}")
