"""arx: an agent-native, reproducible research artifact."""

__version__ = "0.1.0"
