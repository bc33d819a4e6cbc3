"""Drafters: one module each, one interface (see base.py)."""

from .base import Draft, Drafter, Verified, chain
from .dynamic_sam import DynamicSAM
from .factory import build_drafter, chain_template, uses_static
from .graft import graft_chain, merge_chain
from .prompt_lookup import PromptLookup
from .recycling import TokenRecycling, make_template
from .sam import SAM, choose_source
from .static_sam import StaticSAM

__all__ = [
    "SAM",
    "Draft",
    "Drafter",
    "DynamicSAM",
    "PromptLookup",
    "StaticSAM",
    "TokenRecycling",
    "Verified",
    "build_drafter",
    "chain",
    "chain_template",
    "choose_source",
    "graft_chain",
    "make_template",
    "merge_chain",
    "uses_static",
]
