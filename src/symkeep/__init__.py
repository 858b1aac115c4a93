"""symkeep: tell what a Go binary kept, and get back what was stripped.

Imports stay lazy here so ``symkeep --help`` starts fast.
"""

__version__ = "0.1.0"
