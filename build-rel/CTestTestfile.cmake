# CMake generated Testfile for 
# Source directory: /work/wt-bounce
# Build directory: /work/wt-bounce/build-rel
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
