file(REMOVE_RECURSE
  "CMakeFiles/addrcheck_test.dir/tests/unit/addrcheck_test.c.o"
  "CMakeFiles/addrcheck_test.dir/tests/unit/addrcheck_test.c.o.d"
  "addrcheck_test"
  "addrcheck_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/addrcheck_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
