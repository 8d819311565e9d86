"""Configuration: the schema (what the core reads) and the loaders around it."""
from galerna.config.schema import Config

__all__ = ["Config"]
