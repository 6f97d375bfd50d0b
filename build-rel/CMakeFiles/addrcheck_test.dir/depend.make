# Empty dependencies file for addrcheck_test.
# This may be replaced when dependencies are built.
