
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/wt-bounce/src/addrcheck.c" "CMakeFiles/cleanbox.dir/src/addrcheck.c.o" "gcc" "CMakeFiles/cleanbox.dir/src/addrcheck.c.o.d"
  "/work/wt-bounce/src/admin.c" "CMakeFiles/cleanbox.dir/src/admin.c.o" "gcc" "CMakeFiles/cleanbox.dir/src/admin.c.o.d"
  "/work/wt-bounce/src/bounce.c" "CMakeFiles/cleanbox.dir/src/bounce.c.o" "gcc" "CMakeFiles/cleanbox.dir/src/bounce.c.o.d"
  "/work/wt-bounce/src/bounce_cli.c" "CMakeFiles/cleanbox.dir/src/bounce_cli.c.o" "gcc" "CMakeFiles/cleanbox.dir/src/bounce_cli.c.o.d"
  "/work/wt-bounce/src/bounce_codes.c" "CMakeFiles/cleanbox.dir/src/bounce_codes.c.o" "gcc" "CMakeFiles/cleanbox.dir/src/bounce_codes.c.o.d"
  "/work/wt-bounce/src/bounce_mime.c" "CMakeFiles/cleanbox.dir/src/bounce_mime.c.o" "gcc" "CMakeFiles/cleanbox.dir/src/bounce_mime.c.o.d"
  "/work/wt-bounce/src/bounce_parse.c" "CMakeFiles/cleanbox.dir/src/bounce_parse.c.o" "gcc" "CMakeFiles/cleanbox.dir/src/bounce_parse.c.o.d"
  "/work/wt-bounce/src/bounce_rules.c" "CMakeFiles/cleanbox.dir/src/bounce_rules.c.o" "gcc" "CMakeFiles/cleanbox.dir/src/bounce_rules.c.o.d"
  "/work/wt-bounce/src/bounce_text.c" "CMakeFiles/cleanbox.dir/src/bounce_text.c.o" "gcc" "CMakeFiles/cleanbox.dir/src/bounce_text.c.o.d"
  "/work/wt-bounce/src/buf.c" "CMakeFiles/cleanbox.dir/src/buf.c.o" "gcc" "CMakeFiles/cleanbox.dir/src/buf.c.o.d"
  "/work/wt-bounce/src/log.c" "CMakeFiles/cleanbox.dir/src/log.c.o" "gcc" "CMakeFiles/cleanbox.dir/src/log.c.o.d"
  "/work/wt-bounce/src/mxcheck.c" "CMakeFiles/cleanbox.dir/src/mxcheck.c.o" "gcc" "CMakeFiles/cleanbox.dir/src/mxcheck.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
