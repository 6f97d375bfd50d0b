# CMake generated Testfile for 
# Source directory: /work/wt-bounce
# Build directory: /work/wt-bounce/build-rel
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test([=[addrcheck_test]=] "/work/wt-bounce/build-rel/addrcheck_test")
set_tests_properties([=[addrcheck_test]=] PROPERTIES  ENVIRONMENT "CORPUS_DIR=/work/wt-bounce/../shared/corpus/bounces;SOURCE_DIR=/work/wt-bounce" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/wt-bounce/CMakeLists.txt;56;add_test;/work/wt-bounce/CMakeLists.txt;0;")
add_test([=[bounce_parse_test]=] "/work/wt-bounce/build-rel/bounce_parse_test")
set_tests_properties([=[bounce_parse_test]=] PROPERTIES  ENVIRONMENT "CORPUS_DIR=/work/wt-bounce/../shared/corpus/bounces;SOURCE_DIR=/work/wt-bounce" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/wt-bounce/CMakeLists.txt;56;add_test;/work/wt-bounce/CMakeLists.txt;0;")
add_test([=[bounce_test]=] "/work/wt-bounce/build-rel/bounce_test")
set_tests_properties([=[bounce_test]=] PROPERTIES  ENVIRONMENT "CORPUS_DIR=/work/wt-bounce/../shared/corpus/bounces;SOURCE_DIR=/work/wt-bounce" TIMEOUT "120" _BACKTRACE_TRIPLES "/work/wt-bounce/CMakeLists.txt;56;add_test;/work/wt-bounce/CMakeLists.txt;0;")
