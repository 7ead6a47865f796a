"""Data quality: validators used by ``@check_output`` (Hamilton's ``hamilton.data_quality``)."""

from asyncdag.data_quality import base as base

__all__ = ["base"]
