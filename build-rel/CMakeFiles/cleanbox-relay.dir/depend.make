# Empty dependencies file for cleanbox-relay.
# This may be replaced when dependencies are built.
