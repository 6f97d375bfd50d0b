# Empty compiler generated dependencies file for bounce_test.
# This may be replaced when dependencies are built.
