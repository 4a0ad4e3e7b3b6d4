"""Pieces every page reuses: topology texts and diagrams, model picking and loading, media input, run comparison."""
