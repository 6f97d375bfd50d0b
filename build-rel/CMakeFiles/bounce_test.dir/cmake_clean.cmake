file(REMOVE_RECURSE
  "CMakeFiles/bounce_test.dir/tests/unit/bounce_test.c.o"
  "CMakeFiles/bounce_test.dir/tests/unit/bounce_test.c.o.d"
  "bounce_test"
  "bounce_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/bounce_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
