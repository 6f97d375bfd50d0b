# Empty dependencies file for cleanbox.
# This may be replaced when dependencies are built.
