"""Lucarne's composition root: configuration, HTTP app, care records, and the wiring of the domain packages."""
