"""The development demo behind ``lucarne run --demo``: its accounts, a small directory in the national extract's
format (``data/``) and the expertise profiles that make the demo specialist routable."""

from .seed import DEMO_ACCOUNTS, DEMO_EXTRACT, DEMO_PROFILES, DEMO_SPECIALTY, DemoSeed, seed_demo

__all__ = ["DEMO_ACCOUNTS", "DEMO_EXTRACT", "DEMO_PROFILES", "DEMO_SPECIALTY", "DemoSeed", "seed_demo"]
