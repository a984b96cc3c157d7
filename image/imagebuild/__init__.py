"""image/build: the SD-card image of the smart-meter logger."""
