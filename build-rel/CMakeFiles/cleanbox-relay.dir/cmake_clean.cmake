file(REMOVE_RECURSE
  "CMakeFiles/cleanbox-relay.dir/src/main.c.o"
  "CMakeFiles/cleanbox-relay.dir/src/main.c.o.d"
  "cleanbox-relay"
  "cleanbox-relay.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/cleanbox-relay.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
