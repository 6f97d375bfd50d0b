
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/wt-bounce/tests/unit/addrcheck_test.c" "CMakeFiles/addrcheck_test.dir/tests/unit/addrcheck_test.c.o" "gcc" "CMakeFiles/addrcheck_test.dir/tests/unit/addrcheck_test.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  "/work/wt-bounce/build-rel/CMakeFiles/cleanbox.dir/DependInfo.cmake"
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
