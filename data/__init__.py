"""Demo-province generator and reference tables."""
