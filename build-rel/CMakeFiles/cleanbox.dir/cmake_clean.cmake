file(REMOVE_RECURSE
  "CMakeFiles/cleanbox.dir/src/addrcheck.c.o"
  "CMakeFiles/cleanbox.dir/src/addrcheck.c.o.d"
  "CMakeFiles/cleanbox.dir/src/admin.c.o"
  "CMakeFiles/cleanbox.dir/src/admin.c.o.d"
  "CMakeFiles/cleanbox.dir/src/bounce.c.o"
  "CMakeFiles/cleanbox.dir/src/bounce.c.o.d"
  "CMakeFiles/cleanbox.dir/src/bounce_cli.c.o"
  "CMakeFiles/cleanbox.dir/src/bounce_cli.c.o.d"
  "CMakeFiles/cleanbox.dir/src/bounce_codes.c.o"
  "CMakeFiles/cleanbox.dir/src/bounce_codes.c.o.d"
  "CMakeFiles/cleanbox.dir/src/bounce_mime.c.o"
  "CMakeFiles/cleanbox.dir/src/bounce_mime.c.o.d"
  "CMakeFiles/cleanbox.dir/src/bounce_parse.c.o"
  "CMakeFiles/cleanbox.dir/src/bounce_parse.c.o.d"
  "CMakeFiles/cleanbox.dir/src/bounce_rules.c.o"
  "CMakeFiles/cleanbox.dir/src/bounce_rules.c.o.d"
  "CMakeFiles/cleanbox.dir/src/bounce_text.c.o"
  "CMakeFiles/cleanbox.dir/src/bounce_text.c.o.d"
  "CMakeFiles/cleanbox.dir/src/buf.c.o"
  "CMakeFiles/cleanbox.dir/src/buf.c.o.d"
  "CMakeFiles/cleanbox.dir/src/log.c.o"
  "CMakeFiles/cleanbox.dir/src/log.c.o.d"
  "CMakeFiles/cleanbox.dir/src/mxcheck.c.o"
  "CMakeFiles/cleanbox.dir/src/mxcheck.c.o.d"
  "libcleanbox.a"
  "libcleanbox.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/cleanbox.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
