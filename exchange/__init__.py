"""The exchange: moves child protection cases between English local authorities."""

__version__ = "0.1.0"
