"""The pure domain core: usage rollups, trigger rules, scoring. Imports no other layer."""
