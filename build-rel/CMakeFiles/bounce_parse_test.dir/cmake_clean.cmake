file(REMOVE_RECURSE
  "CMakeFiles/bounce_parse_test.dir/tests/unit/bounce_parse_test.c.o"
  "CMakeFiles/bounce_parse_test.dir/tests/unit/bounce_parse_test.c.o.d"
  "bounce_parse_test"
  "bounce_parse_test.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/bounce_parse_test.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
