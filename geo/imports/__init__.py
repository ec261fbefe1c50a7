"""Imports of the files bureaus have: spreadsheets of units, permits, outlets and river outfalls,
zoning as GIS files or corner-point tables; validated row by row, written all-or-nothing."""
