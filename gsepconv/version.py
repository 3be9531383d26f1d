"""The version of gsepconv, in a leaf module that every layer may import (it imports nothing).

Results tables record it beside the git commit; ``pyproject.toml`` reads it from here.
"""

__version__ = "0.1.0"
