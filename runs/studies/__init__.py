"""Studies: paper reproductions, the scaling-law experiment, and source-model pool building."""
