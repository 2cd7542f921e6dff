"""The version of Bosun, on its own so any layer can name it without importing the public face (and the server)."""

__version__ = "0.1.0"
