# Empty compiler generated dependencies file for bounce_parse_test.
# This may be replaced when dependencies are built.
