"""scriptbots: host Poe script bots. Importing this package reads nothing and opens nothing."""

from __future__ import annotations

__version__ = "0.1.0"
